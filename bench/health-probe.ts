/**
 * `node --import tsx bench/health-probe.ts <base url>`: polls `<base>/health` one request at a time
 * (10 ms apart), printing `ready` after the first answer, until a line arrives on stdin; then prints the
 * latencies (ms) of the requests after the first as JSON on stdout. The first one is not counted: it is
 * sent before what is measured begins (the caller waits for `ready`), and it pays this process's own
 * start (a new connection, code not yet compiled: 30–50 ms here). A process of its own, so that the
 * bench's other clients (200 concurrent map requests) do not delay it: what it measures is the
 * server's answer time, not the bench's event loop.
 */
const base = process.argv[2];
const lat: number[] = [];
let on = true;
let ready = false;
process.stdin.once('data', () => {
  on = false;
});
const until = Date.now() + 900_000; // bounded, whatever happens
while (on && Date.now() < until) {
  const t0 = performance.now();
  const r = await fetch(`${base}/health`);
  await r.arrayBuffer();
  if (ready) lat.push(performance.now() - t0);
  else {
    ready = true;
    process.stdout.write('ready\n');
  }
  await new Promise((res) => setTimeout(res, 10));
}
process.stdout.write(JSON.stringify(lat) + '\n');
process.exit(0);
