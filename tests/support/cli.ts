/** The CLI as a user runs it: `node --import tsx src/main.ts …` in a child process on a given data folder. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/config.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A runner for `data`: fixtures not registered, one worker with one ORT thread, plus `env`. */
export function cliRunner(data: string, env: Record<string, string> = {}): (...args: string[]) => CliRun {
  return (...args) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'src', 'main.ts'), ...args, '--data', data], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, TOPOSCOPE_REGISTER_FIXTURES: '0', TOPOSCOPE_WORKERS: '1', TOPOSCOPE_ORT_THREADS: '1', ...env },
      encoding: 'utf8',
      timeout: 170_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
}
