// The download path's own parts: the direct GET client (raw answers from a local socket
// server, so every framing and fault is exact), the writing thread (a tiny ring forces wraps
// and backpressure), and downloadFile over both HTTP clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import http from 'node:http';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { directGet } from '../src/transfer/direct-http.ts';
import { FileSink } from '../src/transfer/file-sink.ts';
import { downloadFile, uploadFile } from '../src/transfer/http.ts';
import { closeDispatcher } from '../src/http.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'direct-get-'));
});
after(async () => {
  await closeDispatcher();
  await rm(dir, { recursive: true, force: true });
});

/** A server that answers every connection with `answer(socket, requestText)`. */
async function rawServer(answer: (socket: net.Socket, request: string) => void): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      requests.push(text);
      answer(socket, text);
      text = '';
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/file?key=k`,
    requests,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Writes `parts` one per tick, so the client sees them in separate reads. */
function trickle(socket: net.Socket, parts: (string | Buffer)[], end = true): void {
  let i = 0;
  const next = () => {
    if (socket.destroyed) return;
    if (i === parts.length) return void (end && socket.end());
    socket.write(parts[i++], () => setTimeout(next, 2));
  };
  next();
}

async function collect(url: string, headers: Record<string, string> = {}) {
  const res = await directGet(url, headers);
  const parts: Buffer[] = [];
  await res.pipe((c) => void parts.push(Buffer.from(c)));
  return { res, body: Buffer.concat(parts) };
}

test('Content-Length body, headers split across reads, the request line and headers as sent', async () => {
  const body = randomBytes(300_000);
  const srv = await rawServer((s) =>
    trickle(s, ['HTTP/1.1 200 OK\r\nContent-Le', `ngth: ${body.length}\r\nETag: "abc"\r\nX-Two: 1\r\nx-two: 2\r\n\r\n`, body.subarray(0, 7), body.subarray(7)], false),
  );
  try {
    const { res, body: got } = await collect(srv.url, { range: 'bytes=0-', 'user-agent': 'ua' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers.etag, '"abc"');
    assert.equal(res.headers['x-two'], '1, 2');
    assert.equal(sha(got), sha(body));
    assert.match(srv.requests[0], /^GET \/file\?key=k HTTP\/1\.1\r\nhost: 127\.0\.0\.1:\d+\r\nrange: bytes=0-\r\nuser-agent: ua\r\nconnection: close\r\n\r\n$/);
  } finally {
    await srv.close();
  }
});

test('chunked body with extensions and trailers, split at every awkward place; 100 Continue skipped', async () => {
  const a = randomBytes(5000);
  const b = randomBytes(70_000);
  const framed = Buffer.concat([
    Buffer.from(`${a.length.toString(16)};ext=1\r\n`), a, Buffer.from('\r\n'),
    Buffer.from(`${b.length.toString(16).toUpperCase()}\r\n`), b, Buffer.from('\r\n'),
    Buffer.from('0\r\nX-Trailer: t\r\n\r\n'),
  ]);
  const pieces: Buffer[] = [Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')];
  for (let i = 0; i < framed.length; ) {
    const n = [1, 3, 5000, 2, 17, 65536][pieces.length % 6];
    pieces.push(framed.subarray(i, i + n));
    i += n;
  }
  const srv = await rawServer((s) => trickle(s, pieces, false)); // no close: the last chunk ends it
  try {
    const { body } = await collect(srv.url);
    assert.equal(sha(body), sha(Buffer.concat([a, b])));
  } finally {
    await srv.close();
  }
});

test('a body delimited by the connection closing; 204 has none', async () => {
  const body = randomBytes(40_000);
  const srv = await rawServer((s) => trickle(s, ['HTTP/1.1 200 OK\r\n\r\n', body]));
  const empty = await rawServer((s) => s.write('HTTP/1.1 204 No Content\r\n\r\n'));
  try {
    assert.equal(sha((await collect(srv.url)).body), sha(body));
    const r = await collect(empty.url);
    assert.equal(r.res.statusCode, 204);
    assert.equal(r.body.length, 0);
  } finally {
    await srv.close();
    await empty.close();
  }
});

test('a connection cut inside the body rejects with ECONNRESET (what the retry resumes on)', async () => {
  const srv = await rawServer((s) => trickle(s, ['HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n', randomBytes(30_000)]));
  try {
    await assert.rejects(collect(srv.url), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' && /after 30000 bytes/.test(err.message));
  } finally {
    await srv.close();
  }
});

test('silence: no answer within the headers timeout, or a body that stalls, is ETIMEDOUT', async () => {
  const mute = await rawServer(() => {});
  const stall = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
  try {
    await assert.rejects(directGet(mute.url, {}, { headersTimeoutMs: 200 }), (err: NodeJS.ErrnoException) => err.code === 'ETIMEDOUT');
    const res = await directGet(stall.url, {}, { bodyTimeoutMs: 200 });
    await assert.rejects(res.pipe(() => undefined), (err: NodeJS.ErrnoException) => err.code === 'ETIMEDOUT');
  } finally {
    await mute.close();
    await stall.close();
  }
});

test('malformed answers are refused: not HTTP, endless headers, bad Content-Length, bad chunk size; header injection refused before sending', async () => {
  const cases = [
    'SSH-2.0-OpenSSH\r\n\r\n',
    `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}\r\n\r\n`,
    'HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n',
  ];
  for (const answer of cases) {
    const srv = await rawServer((s) => s.write(answer));
    try {
      await assert.rejects(directGet(srv.url, {}), (err: NodeJS.ErrnoException) => err.code === 'EPROTO', answer.slice(0, 20));
    } finally {
      await srv.close();
    }
  }
  const chunky = await rawServer((s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'));
  try {
    const res = await directGet(chunky.url, {});
    await assert.rejects(res.pipe(() => undefined), (err: NodeJS.ErrnoException) => err.code === 'EPROTO');
  } finally {
    await chunky.close();
  }
  await assert.rejects(directGet('http://127.0.0.1:9/', { 'if-range': '"a"\r\nx: y' }), /line breaks/);
});

test('an abort during the body rejects with the signal reason and closes the connection', async () => {
  let serverSocket: net.Socket | undefined;
  const srv = await rawServer((s) => {
    serverSocket = s;
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n');
    s.write(randomBytes(1000));
  });
  try {
    const ac = new AbortController();
    const res = await directGet(srv.url, {}, { signal: ac.signal });
    const p = res.pipe(() => {
      ac.abort(new Error('cancelled by the test'));
      return undefined;
    });
    await assert.rejects(p, /cancelled by the test/);
    await new Promise<void>((r) => (serverSocket!.destroyed ? r() : serverSocket!.once('close', () => r())));
  } finally {
    await srv.close();
  }
});

test('backpressure: a pending write pauses reading, and every byte still arrives in order', async () => {
  const body = randomBytes(2_000_000);
  const srv = await rawServer((s) => s.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body])));
  try {
    const res = await directGet(srv.url, {});
    const parts: Buffer[] = [];
    let calls = 0;
    let waiting = false;
    await res.pipe((c) => {
      assert.equal(waiting, false, 'no chunk while a write is pending');
      parts.push(Buffer.from(c));
      if (++calls % 5) return undefined;
      waiting = true;
      return new Promise<void>((r) => setTimeout(() => ((waiting = false), r()), 5));
    });
    assert.equal(sha(Buffer.concat(parts)), sha(body));
  } finally {
    await srv.close();
  }
});

test('FileSink: a tiny ring wraps and pushes back; restart empties; the file holds exactly what was written', async () => {
  const file = path.join(dir, 'sink.bin');
  const sink = new FileSink(file, { ringBytes: 64 * 1024 });
  const first = randomBytes(100_000);
  for (let i = 0; i < first.length; i += 7000) await sink.write(first.subarray(i, i + 7000));
  assert.equal(await sink.drain(), first.length);
  assert.equal((await stat(file)).size, first.length);
  await sink.restart();
  assert.equal((await stat(file)).size, 0);
  const chunks: Buffer[] = [];
  let pushedBack = 0;
  for (let i = 0; i < 300; i++) {
    const c = randomBytes(1 + ((i * 7919) % 40_000));
    chunks.push(c);
    const reused = Buffer.from(c); // the caller reuses its buffer once write() returns
    const wait = sink.write(reused);
    reused.fill(0);
    if (wait) {
      pushedBack++;
      await wait;
    }
  }
  const all = Buffer.concat(chunks);
  const bytes = await sink.finish();
  assert.ok(pushedBack > 0, 'the ring filled up at least once');
  assert.equal(bytes, all.length);
  assert.equal(sha(await readFile(file)), sha(all));
});

test('FileSink: a file that cannot be written fails write/finish with a message naming it', async () => {
  const file = path.join(dir, 'no-such-dir', 'x.bin');
  const sink = new FileSink(file, { ringBytes: 64 * 1024 });
  try {
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 100; i++) await sink.write(randomBytes(16 * 1024));
        await sink.finish();
      })(),
      (err: Error) => err.message.includes(file) && /ENOENT/.test(err.message),
    );
  } finally {
    await sink.close();
  }
});

for (const client of ['direct', 'undici'] as const) {
  test(`downloadFile (${client}): cut twice, resumed with Range/If-Range, restarted when Range is ignored; hash of the file`, async () => {
    const body = randomBytes(3_000_000);
    let n = 0;
    const server = http.createServer((req, res) => {
      n++;
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      if (n === 3) {
        // Third answer ignores Range: a full 200, and the client must start over.
        res.writeHead(200, { 'content-length': body.length, etag: '"v1"' });
        return void res.end(body);
      }
      assert.equal(req.headers['if-range'], from ? '"v1"' : undefined);
      const part = body.subarray(from);
      res.writeHead(from ? 206 : 200, { 'content-length': part.length, etag: '"v1"', ...(from ? { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}) });
      if (n <= 2) {
        res.write(part.subarray(0, 500_000), () => res.socket?.destroy());
        return;
      }
      res.end(part);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/f`;
    const dest = path.join(dir, `dl-${client}.bin`);
    try {
      const r = await downloadFile(url, dest, { what: 'test download', client, checkUrl: () => {}, retryBaseMs: 10 });
      assert.equal(r.sha256, sha(body));
      assert.equal(r.bytes, body.length);
      assert.equal(sha(await readFile(dest)), sha(body));
      assert.equal(n, 3);
      await assert.rejects(stat(`${dest}.part`));
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
}

test('downloadFile: an error answer is read (bounded) into the message; a 404 leaves no .part behind', async () => {
  const server = http.createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('no such request');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const dest = path.join(dir, 'missing.bin');
  await writeFile(`${dest}.part`, 'stale');
  try {
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/f`;
    await assert.rejects(downloadFile(url, dest, { what: 'test download', checkUrl: () => {}, retryBaseMs: 10 }), /HTTP 404 \(no such request\)/);
    await assert.rejects(stat(`${dest}.part`));
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

for (const client of ['direct', 'undici'] as const) {
  test(`uploadFile (${client}): cut mid-body and sent again whole; Content-Length, progress and hash; a 4xx is not retried`, async () => {
    const file = path.join(dir, `up-${client}.bin`);
    const data = randomBytes(5_000_000);
    await writeFile(file, data);
    let n = 0;
    const received: string[] = [];
    const server = http.createServer((req, res) => {
      n++;
      const attempt = n;
      assert.equal(req.headers['content-length'], String(data.length));
      assert.equal(req.method, 'POST');
      const h = createHash('sha256');
      let got = 0;
      req.on('data', (c: Buffer) => {
        got += c.length;
        h.update(c);
        if (attempt === 1 && got > 1_000_000) req.socket.destroy(); // the first attempt is cut
      });
      req.on('end', () => {
        received.push(h.digest('hex'));
        if (req.url?.includes('refuse')) return void res.writeHead(413).end('too large for this test');
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: got }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const seen: number[] = [];
    try {
      const r = await uploadFile(`${base}/up`, file, { what: 'test upload', client, retryBaseMs: 10, progress: { update: (b: number) => seen.push(b) } as never });
      assert.equal(r.attempts, 2);
      assert.equal(r.sha256, sha(data));
      assert.deepEqual(r.answer, { ok: data.length });
      assert.deepEqual(received, [sha(data)]);
      assert.equal(seen.at(-1), data.length);
      n = 1; // no more cuts
      await assert.rejects(uploadFile(`${base}/refuse`, file, { what: 'test upload', client, retryBaseMs: 10 }), /HTTP 413 \(too large for this test\)/);
      assert.equal(n, 2, 'a 4xx answer is final');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
}

test('with HTTP_PROXY set, uploads and downloads go through the proxy (undici); without it, straight to the server', async () => {
  const data = randomBytes(2_000_000);
  const file = path.join(dir, 'proxied.bin');
  await writeFile(file, data);
  let stored = Buffer.alloc(0);
  const server = http.createServer((req, res) => {
    if (req.method === 'POST') {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        stored = Buffer.concat(parts);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
      return;
    }
    res.writeHead(200, { 'content-length': stored.length }).end(stored);
  });
  // A forwarding proxy for plain-http URLs (absolute-form requests), counting what it relays.
  const relayed: string[] = [];
  const proxy = http.createServer((req, res) => {
    relayed.push(`${req.method} ${req.url}`);
    const target = new URL(req.url!);
    const up = http.request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode!, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
  try {
    process.env.HTTP_PROXY = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    delete process.env.NO_PROXY;
    await closeDispatcher(); // the shared dispatcher reads the proxy variables when it is made
    const up = await uploadFile(`${base}/up`, file, { what: 'proxied upload', retryBaseMs: 10 });
    const down = await downloadFile(`${base}/down`, path.join(dir, 'proxied-back.bin'), { what: 'proxied download', checkUrl: () => {}, retryBaseMs: 10 });
    assert.deepEqual(relayed, [`POST ${base}/up`, `GET ${base}/down`]);
    assert.equal(up.sha256, sha(data));
    assert.equal(down.sha256, sha(data));

    delete process.env.HTTP_PROXY;
    await closeDispatcher();
    await uploadFile(`${base}/up`, file, { what: 'direct upload', retryBaseMs: 10 });
    await downloadFile(`${base}/down`, path.join(dir, 'direct-back.bin'), { what: 'direct download', checkUrl: () => {}, retryBaseMs: 10 });
    assert.equal(relayed.length, 2, 'nothing more through the proxy');
  } finally {
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
    await closeDispatcher();
    server.closeAllConnections();
    proxy.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => proxy.close(() => r()));
  }
});
