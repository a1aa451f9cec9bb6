// A TCP relay on loopback that cuts (resets) or stalls a connection after a number of bytes:
// transfers over real sockets meet a broken link where the test wants it.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface Proxy {
  port: number;
  connections: number;
  open: number; // sockets not yet closed
  close(): Promise<void>;
}

/**
 * Forwards 127.0.0.1:<port> to a backend port chosen per connection; `cutAfter(n)` gives the
 * byte count (in `direction`) after which connection n (0-based) is reset, or silently
 * stops forwarding while staying open (a stalled link).
 */
export async function startProxy(
  backend: (n: number) => number, cutAfter: (n: number) => number | undefined, direction: 'up' | 'down', how: 'reset' | 'stall' = 'reset',
): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  const server: Server = createServer((inbound) => {
    const n = state.connections++;
    const outbound = connect(backend(n), '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    const limit = cutAfter(n);
    let moved = 0;
    const cut = () => {
      inbound.resetAndDestroy();
      outbound.destroy();
    };
    const [from, to] = direction === 'up' ? [inbound, outbound] : [outbound, inbound];
    const [back, backTo] = direction === 'up' ? [outbound, inbound] : [inbound, outbound];
    from.on('data', (chunk: Buffer) => {
      moved += chunk.length;
      if (limit !== undefined && moved > limit) return how === 'reset' ? cut() : undefined; // stall: swallow, stay open
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    back.pipe(backTo);
    from.on('end', () => to.end());
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get connections() {
      return state.connections;
    },
    get open() {
      return sockets.size;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
