/** One owner per data directory, with real separate processes: refusal, takeover after SIGKILL, clean exit. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLease, LeaseHeldError, OWNER_FILE, readLeaseOwner } from '../../src/store/lease.ts';
import { tempDir } from '../support/env.ts';

const HOLDER = path.join(import.meta.dirname, 'support', 'lease-holder.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

interface Started {
  proc: ChildProcess;
  first: Promise<{ ok: boolean; pid?: number; name?: string; message?: string }>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const procs: ChildProcess[] = [];
const dirs: string[] = [];

function holder(dir: string, mode: string): Started {
  const proc = spawn(process.execPath, ['--import', TSX, HOLDER, dir, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(proc);
  let out = '';
  const first = new Promise<{ ok: boolean; pid?: number; message?: string }>((resolve, reject) => {
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    proc.once('exit', () => reject(new Error(`holder exited before answering: ${out}`)));
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  return { proc, first, exit };
}

function dataDir(): string {
  const d = tempDir('toposcope-lease-');
  dirs.push(d);
  return d;
}

afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('data directory lease', () => {
  it('a second process refuses with a message naming the directory and the owner pid; so does this one', async () => {
    const dir = dataDir();
    const a = holder(dir, 'hold');
    const got = await a.first;
    expect(got.ok).toBe(true);
    const b = holder(dir, 'hold');
    const refused = await b.first;
    expect(refused).toMatchObject({ ok: false, name: 'LeaseHeldError' });
    expect(refused.message).toContain(fs.realpathSync(dir));
    expect(refused.message).toContain(`pid ${got.pid}`);
    expect((await b.exit).code).toBe(3);
    let err: unknown;
    try {
      acquireLease(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LeaseHeldError);
    expect((err as LeaseHeldError).owner?.pid).toBe(got.pid);
    expect((err as LeaseHeldError).dir).toBe(fs.realpathSync(dir));
  });

  it('after SIGKILL of the owner a new process takes over at once', async () => {
    const dir = dataDir();
    const a = holder(dir, 'hold');
    const aPid = (await a.first).pid!;
    a.proc.kill('SIGKILL');
    expect((await a.exit).signal).toBe('SIGKILL');
    // The dead owner's file is still there; it does not block anyone.
    expect(readLeaseOwner(dir)?.pid).toBe(aPid);
    const c = holder(dir, 'hold');
    const cGot = await c.first;
    expect(cGot.ok).toBe(true);
    expect(readLeaseOwner(dir)?.pid).toBe(cGot.pid);
  });

  it('a clean exit releases the lease and removes the owner file', async () => {
    const dir = dataDir();
    const a = holder(dir, 'exit');
    expect((await a.first).ok).toBe(true);
    expect((await a.exit).code).toBe(0);
    expect(fs.existsSync(path.join(dir, OWNER_FILE))).toBe(false);
    const lease = acquireLease(dir);
    expect(lease.owner.pid).toBe(process.pid);
    lease.release();
  });

  it('waitMs waits for an owner that is letting go', async () => {
    const dir = dataDir();
    const a = holder(dir, 'hold-ms:400');
    expect((await a.first).ok).toBe(true);
    expect(() => acquireLease(dir)).toThrow(LeaseHeldError);
    const lease = acquireLease(dir, { waitMs: 10_000 });
    expect(lease.owner.pid).toBe(process.pid);
    lease.release();
  });

  it('in one process: a second acquire is refused until release; the heartbeat advances', async () => {
    const dir = dataDir();
    const lease = acquireLease(dir, { heartbeatMs: 30, purpose: 'this test' });
    expect(lease.dir).toBe(fs.realpathSync(dir));
    expect(() => acquireLease(dir)).toThrow(new RegExp(`in use by toposcope pid ${process.pid} on .*this test`));
    const first = readLeaseOwner(dir)!.heartbeatAt;
    await new Promise((r) => setTimeout(r, 120));
    expect(Date.parse(readLeaseOwner(dir)!.heartbeatAt)).toBeGreaterThan(Date.parse(first));
    lease.release();
    lease.release();
    expect(fs.existsSync(path.join(dir, OWNER_FILE))).toBe(false);
    const again = acquireLease(dir);
    again.release();
  });
});
