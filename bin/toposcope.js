#!/usr/bin/env node
// The installed `toposcope` command: the compiled CLI (npm run build writes dist/).
import '../dist/main.js';
