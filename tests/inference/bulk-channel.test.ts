/**
 * The bulk side channel over a real socket pair: large buffers arrive intact and in order, small ones
 * stay in the message, whether the bytes come before or after the message that names them.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BULK_MIN_BYTES, BulkChannel } from '../../src/inference/bulk-channel.ts';
import { tempDir } from '../support/env.ts';

describe('BulkChannel', () => {
  const dir = tempDir('toposcope-bulk-');
  let server: net.Server;
  let a: net.Socket;
  let b: net.Socket;

  beforeAll(async () => {
    const sockPath = path.join(dir, 's');
    server = net.createServer();
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(sockPath, resolve));
    a = net.connect(sockPath);
    b = await accepted;
  });
  afterAll(async () => {
    a.destroy();
    b.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The message with every ArrayBuffer as a Uint8Array view (toEqual compares those byte by byte). */
  function bytes(v: unknown): unknown {
    if (v instanceof ArrayBuffer) return new Uint8Array(v);
    if (Array.isArray(v)) return v.map(bytes);
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, bytes(x)]));
    return v;
  }

  function filled(bytes: number, seed: number): ArrayBuffer {
    const u = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i++) u[i] = (i * 31 + seed) & 255;
    return u.buffer;
  }

  it('carries large buffers over the socket and small ones in the message, in order, early or late', async () => {
    const got: unknown[] = [];
    const sender = new BulkChannel(a, () => undefined);
    const receiver = new BulkChannel(b, (m) => got.push(m));
    const messages = [
      { id: 1, layers: [{ data: filled(3 * BULK_MIN_BYTES + 5, 1), token: filled(16, 2) }], note: 'first' },
      { id: 2, small: filled(BULK_MIN_BYTES - 1, 3) },
      { id: 3, feeds: { x: { dims: [2, 3], data: filled(5_000_000, 4) }, y: { dims: [1], data: filled(BULK_MIN_BYTES, 5) } } },
    ];
    const packed = messages.map((m) => sender.pack(structuredClone(m)));
    // Only the large buffers left the message.
    expect(JSON.stringify(packed.map((p) => p.message))).toMatch(/"data":\{"\$bulkBytes":196613\}.*"token":\{\}/);
    expect((packed[1].message as { small: unknown }).small).toBeInstanceOf(ArrayBuffer);
    // The first message is taken before its bytes are in; the others after all bytes have arrived.
    receiver.receive(structuredClone(packed[0].message));
    await Promise.all(packed.map((p) => p.written));
    await new Promise<void>((resolve) => {
      const poll = () => (b.bytesRead >= 3 * BULK_MIN_BYTES + 5 + 5_000_000 + BULK_MIN_BYTES ? resolve() : setTimeout(poll, 5));
      poll();
    });
    receiver.receive(structuredClone(packed[1].message));
    receiver.receive(structuredClone(packed[2].message));
    expect(got.map(bytes)).toEqual(messages.map(bytes));
    expect(got.map((m) => (m as { id: number }).id)).toEqual([1, 2, 3]);
  });
});
