// npm run openapi: regenerate openapi/openapi.json and openapi/manifest.schema.json from the code.
import fs from 'node:fs';
import { generateManifestSchema, generateOpenApi, MANIFEST_SCHEMA_FILE, OPENAPI_FILE } from '../src/http/openapi.ts';

fs.writeFileSync(OPENAPI_FILE, await generateOpenApi());
fs.writeFileSync(MANIFEST_SCHEMA_FILE, generateManifestSchema());
console.log(`wrote ${OPENAPI_FILE} and ${MANIFEST_SCHEMA_FILE}`);
