/**
 * Large ArrayBuffers beside a process's IPC channel. Node's IPC serialises a message into one buffer
 * and parses it back on the other side, which costs several copies of every byte and slows down on
 * messages of tens of MB (a batch's inputs, per-token activations). Here each ArrayBuffer of at least
 * `BULK_MIN_BYTES` in a message is written as raw bytes to a socket shared with the other process and
 * replaced in the message by its size; the receiver reads the bytes straight into a new ArrayBuffer.
 *
 * Both channels keep order, so the receiver pairs the n-th message's buffers with the next bytes on
 * the socket. Messages are delivered in the order they arrived, each once all its bytes are in.
 */
import type { Duplex } from 'node:stream';

export const BULK_MIN_BYTES = 64 * 1024;

/** What replaces a buffer in the message: its length (the bytes follow on the socket). */
interface Placeholder {
  $bulkBytes: number;
}

function isPlaceholder(v: unknown): v is Placeholder {
  return typeof v === 'object' && v !== null && typeof (v as Placeholder).$bulkBytes === 'number' && Object.keys(v).length === 1;
}

/** Maps every value of plain objects and arrays, depth first; `f` sees the values in the same order on both sides. */
function mapLeaves(v: unknown, f: (leaf: unknown) => unknown): unknown {
  const r = f(v);
  if (r !== v) return r;
  if (Array.isArray(v)) return v.map((x) => mapLeaves(x, f));
  if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = mapLeaves(x, f);
    return out;
  }
  return v;
}

interface Incoming {
  message: unknown;
  buffers: Uint8Array[];
  /** The buffer being filled, and how far. */
  next: number;
  offset: number;
}

export class BulkChannel {
  /** Bytes of the large buffers sent and received so far. */
  moved = 0;
  private readonly inbox: Incoming[] = [];
  /** Bytes that came before the message they belong to. */
  private early: Buffer[] = [];

  constructor(
    private readonly socket: Duplex,
    private readonly deliver: (message: unknown) => void,
  ) {
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    // The other process ending mid-transfer resets the socket; its exit says what happened.
    socket.on('error', () => undefined);
  }

  /**
   * The message to send over IPC (next, before anything else is packed); its large buffers are on
   * their way over the socket, handed over to the kernel once `written` resolves.
   */
  pack<T>(message: T): { message: T; written: Promise<void> } {
    const writes: Promise<void>[] = [];
    const packed = mapLeaves(message, (leaf) => {
      if (!(leaf instanceof ArrayBuffer) || leaf.byteLength < BULK_MIN_BYTES) return leaf;
      this.moved += leaf.byteLength;
      writes.push(new Promise((resolve) => this.socket.write(new Uint8Array(leaf), () => resolve())));
      const p: Placeholder = { $bulkBytes: leaf.byteLength };
      return p;
    }) as T;
    return { message: packed, written: writes.length ? Promise.all(writes).then(() => undefined) : Promise.resolve() };
  }

  /** Takes a message as it came over IPC; `deliver` gets it, buffers in place, in arrival order. */
  receive(message: unknown): void {
    const buffers: Uint8Array[] = [];
    const withBuffers = mapLeaves(message, (leaf) => {
      if (!isPlaceholder(leaf)) return leaf;
      const b = new Uint8Array(leaf.$bulkBytes);
      this.moved += b.length;
      buffers.push(b);
      return b.buffer;
    });
    this.inbox.push({ message: withBuffers, buffers, next: 0, offset: 0 });
    const early = this.early;
    this.early = [];
    for (const chunk of early) this.onBytes(chunk);
    this.flush();
  }

  private onBytes(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const m = this.inbox.find((x) => x.next < x.buffers.length);
      if (!m) {
        this.early.push(chunk.subarray(at));
        return;
      }
      const target = m.buffers[m.next];
      const n = Math.min(chunk.length - at, target.length - m.offset);
      target.set(chunk.subarray(at, at + n), m.offset);
      at += n;
      m.offset += n;
      if (m.offset === target.length) {
        m.next++;
        m.offset = 0;
      }
    }
    this.flush();
  }

  private flush(): void {
    while (this.inbox.length && this.inbox[0].next === this.inbox[0].buffers.length) this.deliver(this.inbox.shift()!.message);
  }
}
