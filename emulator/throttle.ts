import type net from 'node:net';

/** A slow link: after each chunk, reading from `from` pauses until the average rate is back under `rate` bytes/s. */
export function throttle(from: net.Socket, rate: number): void {
  const started = Date.now();
  let moved = 0;
  from.on('data', (d: Buffer) => {
    moved += d.length;
    const ahead = (moved / rate) * 1000 - (Date.now() - started);
    if (ahead > 5) {
      from.pause();
      setTimeout(() => from.resume(), ahead).unref();
    }
  });
}
