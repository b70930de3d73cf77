// Worker bootstrap: lets a worker thread run a TypeScript entry point through tsx, both under
// `node --import tsx` and under vitest (whose workers do not pass loaders on to new threads).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
