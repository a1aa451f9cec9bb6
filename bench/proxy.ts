// A TCP relay that holds every byte for `delayMs` in each direction: the 25 ms of a long link,
// since this kernel has no sch_netem. It must never be the bottleneck of what it measures, so:
// - reads go into one large buffer (up to READ_SIZE per read syscall, not Node's 64 KiB), and
//   what one millisecond brings is kept as one slot of the delay line;
// - each flush writes every due slot with one writev (cork/uncork), with one timer per
//   direction, armed for the next due slot only;
// - bounded: a direction holding MAX_QUEUED bytes (in its delay line plus the socket's unsent
//   queue) stops reading until the far side drains. The relay closes itself after `lifetimeMs`.
import net from 'node:net';

const MAX_QUEUED = 64 * 1024 * 1024;
const READ_SIZE = 1024 * 1024;

export interface Relay {
  port: number;
  close(): Promise<void>;
}

export async function startDelayRelay(
  targetPort: number,
  delayMs: number,
  lifetimeMs = 60 * 60_000,
  at: { listenHost?: string; listenPort?: number; targetHost?: string } = {},
): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (client) => {
    const toUpstream = new DelayLine(delayMs);
    const toClient = new DelayLine(delayMs);
    // The upstream socket reads through `onread` into its own buffer; the client socket was
    // accepted by the server and reads Node's way (64 KiB buffers), which are kept as they come.
    const upstream = net.connect({ port: targetPort, host: at.targetHost ?? '127.0.0.1', noDelay: true, onread: toClient.onread() });
    const destroyBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', destroyBoth);
    }
    toUpstream.connect(client, upstream);
    toClient.connect(upstream, client);
    client.on('data', (buf: Buffer) => toUpstream.push(buf));
    upstream.once('connect', () => client.resume());
  });
  await new Promise<void>((resolve) => server.listen(at.listenPort ?? 0, at.listenHost ?? '127.0.0.1', resolve));
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      clearTimeout(stopper);
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
    return closing;
  };
  const stopper = setTimeout(close, lifetimeMs);
  stopper.unref();
  return { port: (server.address() as net.AddressInfo).port, close };
}

/** One direction: bytes read from `from` are written to `to` `delayMs` after they arrived. */
class DelayLine {
  private readonly slots: Array<{ due: number; bufs: Buffer[] }> = [];
  private head = 0;
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private from!: net.Socket;
  private to!: net.Socket;
  private readonly delayMs: number;

  constructor(delayMs: number) {
    this.delayMs = delayMs;
  }

  /** `onread` for a socket this line reads from: one large reused buffer, copied out per read. */
  onread(): { buffer: Buffer; callback: (n: number, buf: Buffer) => boolean } {
    return {
      buffer: Buffer.allocUnsafe(READ_SIZE),
      callback: (n, buf) => {
        this.push(Buffer.from(buf.subarray(0, n)));
        return true; // pausing is done with from.pause(), which onread honours
      },
    };
  }

  connect(from: net.Socket, to: net.Socket): void {
    this.from = from;
    this.to = to;
    from.on('end', () => {
      this.ended = true;
      this.timer ??= setTimeout(this.flush, 0);
    });
    to.on('drain', () => this.maybeResume());
  }

  push(buf: Buffer): void {
    const now = performance.now();
    const last = this.slots[this.slots.length - 1];
    // Arrivals within the same millisecond share a slot (timers fire at 1 ms granularity anyway).
    if (last && this.slots.length > this.head && now + this.delayMs - last.due < 1) last.bufs.push(buf);
    else this.slots.push({ due: now + this.delayMs, bufs: [buf] });
    this.queued += buf.length;
    if (this.queued + this.to.writableLength >= MAX_QUEUED) this.from.pause();
    this.timer ??= setTimeout(this.flush, this.delayMs);
  }

  private readonly flush = () => {
    this.timer = undefined;
    const now = performance.now();
    if (this.head < this.slots.length && this.slots[this.head].due <= now) {
      this.to.cork();
      while (this.head < this.slots.length && this.slots[this.head].due <= now) {
        const { bufs } = this.slots[this.head];
        this.slots[this.head++] = undefined as never;
        for (const b of bufs) {
          this.queued -= b.length;
          this.to.write(b);
        }
      }
      this.to.uncork();
    }
    if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots.splice(0, this.head);
      this.head = 0;
    }
    this.maybeResume();
    if (this.head < this.slots.length) this.timer = setTimeout(this.flush, Math.max(0, this.slots[this.head].due - performance.now()));
    else if (this.ended) this.to.end();
  };

  private maybeResume(): void {
    if (this.from.isPaused() && this.queued + this.to.writableLength < MAX_QUEUED && !this.from.destroyed) this.from.resume();
  }
}
