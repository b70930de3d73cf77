/**
 * The service in its own process for the reliability tests: `server-child.ts '<config overrides JSON>'`
 * builds the real app on the given data directory, listens on a free loopback port, and prints
 * `LISTENING <url>`. A hang or a crash here fails requests, not the test process.
 */
import { loadConfig } from '../../../src/config.ts';
import { closeService, openService } from '../../../src/usecases/service.ts';
import { buildApp } from '../../../src/http/app.ts';

const service = openService(loadConfig({}, JSON.parse(process.argv[2]) as object));
// Errors only: the harness reads them from stdout to explain 500s.
const app = await buildApp(service, { logger: { level: 'error' } });
const url = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`LISTENING ${url}\n`);
process.once('SIGTERM', () => {
  void app.close().then(() => {
    void closeService(service).then(() => process.exit(0));
  });
});
