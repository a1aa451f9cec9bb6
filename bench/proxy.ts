// A TCP relay on 127.0.0.1 that holds every chunk for `delayMs` in each direction: a long
// link on loopback. Bounded: a direction with more than MAX_QUEUED bytes waiting pauses its
// reader; the relay closes itself after `lifetimeMs` whatever happens.
import net from 'node:net';

const MAX_QUEUED = 64 * 1024 * 1024;

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
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, at.targetHost ?? '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    delayed(client, upstream, delayMs);
    delayed(upstream, client, delayMs);
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

function delayed(from: net.Socket, to: net.Socket, delayMs: number): void {
  const queue: Array<{ due: number; buf: Buffer }> = [];
  let head = 0;
  let queued = 0;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (head < queue.length && queue[head].due <= now) {
      const { buf } = queue[head];
      queue[head++] = undefined as never;
      queued -= buf.length;
      to.write(buf);
    }
    if (head > 4096 && head * 2 > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    if (queued < MAX_QUEUED && from.isPaused()) from.resume();
    if (head < queue.length) timer = setTimeout(flush, Math.max(0, queue[head].due - performance.now()));
    else if (ended) to.end();
  };
  from.on('data', (buf: Buffer) => {
    queue.push({ due: performance.now() + delayMs, buf });
    queued += buf.length;
    if (queued >= MAX_QUEUED) from.pause();
    timer ??= setTimeout(flush, delayMs);
  });
  from.on('end', () => {
    ended = true;
    timer ??= setTimeout(flush, 0);
  });
}
