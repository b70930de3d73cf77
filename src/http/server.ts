/** Listening on the configured address, with a graceful stop on SIGINT / SIGTERM. */
import { prerenderMaps } from '../usecases/contrasts.ts';
import { closeService, type Service } from '../usecases/service.ts';
import { buildApp } from './app.ts';

export async function startServer(service: Service, announce: string[] = []): Promise<void> {
  const { config } = service.ctx;
  const app = await buildApp(service, { logger: { level: config.logLevel } });
  if (config.prerenderMaps) prerenderMaps(service.ctx, service.jobs);
  const shutdown = async (sig: string) => {
    app.log.info(`${sig}: shutting down`);
    await app.close();
    await closeService(service);
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  const address = await app.listen({ port: config.port, host: config.host });
  for (const l of announce) process.stdout.write(l + '\n');
  process.stdout.write(`toposcope serving at ${address} — viewer at ${address}/ — API docs at ${address}/docs\n`);
}
