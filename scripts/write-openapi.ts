// npm run openapi: regenerate openapi/openapi.json and openapi/manifest.schema.json from the code, and the
// Python client's bundled copy of the manifest schema.
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/config.ts';
import { generateManifestSchema, generateOpenApi, MANIFEST_SCHEMA_FILE, OPENAPI_FILE } from '../src/http/openapi.ts';

const PYTHON_COPY = path.join(PROJECT_ROOT, 'clients', 'python', 'toposcope', 'manifest.schema.json');
fs.writeFileSync(OPENAPI_FILE, await generateOpenApi());
const schema = generateManifestSchema();
fs.writeFileSync(MANIFEST_SCHEMA_FILE, schema);
fs.writeFileSync(PYTHON_COPY, schema);
console.log(`wrote ${OPENAPI_FILE}, ${MANIFEST_SCHEMA_FILE} and ${PYTHON_COPY}`);
