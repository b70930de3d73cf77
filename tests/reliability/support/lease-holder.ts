/**
 * A separate process for the lease tests: `lease-holder.ts <dataDir> <mode>` takes the lease and
 * prints one JSON line, `{"ok":true,"pid":…}` or `{"ok":false,"name":…,"message":…}`. Modes: `hold`
 * (keep it until killed), `exit` (end normally without calling release), `hold-ms:N` (release after
 * N ms, then exit).
 */
import { acquireLease } from '../../../src/store/lease.ts';

const [dir, mode] = process.argv.slice(2);
try {
  const lease = acquireLease(dir, { purpose: `lease test (${mode})`, heartbeatMs: 100 });
  process.stdout.write(JSON.stringify({ ok: true, pid: process.pid, owner: lease.owner }) + '\n');
  if (mode === 'exit') process.exit(0);
  if (mode.startsWith('hold-ms:')) {
    setTimeout(() => {
      lease.release();
      process.exit(0);
    }, Number(mode.slice(8)));
  } else setInterval(() => {}, 1 << 30);
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, name: (e as Error).name, message: (e as Error).message }) + '\n');
  process.exit(3);
}
