// The dump's HTTP transfers (undici, the one client): resume with Range, restart when Range
// is ignored, uploads sent again whole after a cut, final 4xx, progress, cancellation, and the
// proxy choice (HTTPS_PROXY / HTTP_PROXY / NO_PROXY) with a total deadline on answer headers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import http from 'node:http';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { downloadFile, uploadFile } from '../src/transfer/http.ts';
import { bypassed, proxyFor, makeDispatcher } from '../src/net/dispatch.ts';
import { closeDispatcher } from '../src/net/http.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'http-transfer-'));
});
after(async () => {
  await closeDispatcher();
  await rm(dir, { recursive: true, force: true });
});

async function serve(handler: http.RequestListener): Promise<{ base: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('downloadFile: cut twice, resumed with Range/If-Range, restarted (hash reset) when Range is ignored; progress ends at the size', async () => {
  const body = randomBytes(3_000_000);
  const seen: { range?: string; ifRange?: string }[] = [];
  const srv = await serve((req, res) => {
    const n = seen.push({ range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined });
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    if (n === 3) {
      // The third answer ignores Range: a full 200, and the client must start over.
      res.writeHead(200, { 'content-length': body.length, etag: '"v1"' });
      return void res.end(body);
    }
    const part = body.subarray(from);
    res.writeHead(from ? 206 : 200, { 'content-length': part.length, etag: '"v1"', ...(from ? { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}) });
    res.write(part.subarray(0, 500_000), () => res.socket?.destroy());
  });
  const dest = path.join(dir, 'dl.bin');
  const progress: number[] = [];
  const logs: string[] = [];
  try {
    const r = await downloadFile(`${srv.base}/f`, dest, {
      what: 'test download',
      checkUrl: () => {},
      retryBaseMs: 10,
      log: (l) => logs.push(l),
      progress: { update: (b: number) => progress.push(b), finish: () => {} },
    });
    assert.equal(r.sha256, sha(body));
    assert.equal(r.bytes, body.length);
    assert.equal(r.resumes, 2);
    assert.equal(sha(await readFile(dest)), sha(body));
    assert.equal(seen.length, 3);
    assert.equal(seen[0].range, undefined);
    assert.match(seen[1].range ?? '', /^bytes=[1-9]\d*-$/, 'the second request resumes');
    assert.equal(seen[1].ifRange, '"v1"');
    assert.equal(progress.at(-1), body.length);
    assert.ok(logs.some((l) => /test download interrupted .*resuming/.test(l)), logs.join('\n'));
    await assert.rejects(stat(`${dest}.part`));
  } finally {
    await srv.close();
  }
});

test('downloadFile: an error answer is read (bounded) into the message; a 404 is final and leaves no .part behind', async () => {
  let n = 0;
  const srv = await serve((_req, res) => {
    n++;
    res.writeHead(404, { 'content-type': 'text/plain' }).end('no such request');
  });
  const dest = path.join(dir, 'missing.bin');
  await writeFile(`${dest}.part`, 'stale');
  try {
    await assert.rejects(downloadFile(`${srv.base}/f`, dest, { what: 'test download', checkUrl: () => {}, retryBaseMs: 10 }), /HTTP 404 \(no such request\)/);
    assert.equal(n, 1);
    await assert.rejects(stat(`${dest}.part`));
    await assert.rejects(stat(dest));
  } finally {
    await srv.close();
  }
});

test('downloadFile: a resume at the wrong offset, or of a file that changed (ETag), is refused', async () => {
  const body = randomBytes(200_000);
  for (const fault of ['offset', 'etag'] as const) {
    let n = 0;
    const srv = await serve((req, res) => {
      if (++n === 1) {
        res.writeHead(200, { 'content-length': body.length, etag: '"v1"' });
        return void res.write(body.subarray(0, 50_000), () => res.socket?.destroy());
      }
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1]);
      const at = fault === 'offset' ? from + 1 : from;
      res.writeHead(206, { 'content-length': body.length - at, etag: fault === 'etag' ? '"v2"' : '"v1"', 'content-range': `bytes ${at}-${body.length - 1}/${body.length}` });
      res.end(body.subarray(at));
    });
    try {
      const dest = path.join(dir, `bad-${fault}.bin`);
      await assert.rejects(
        downloadFile(`${srv.base}/f`, dest, { what: 'test download', checkUrl: () => {}, retryBaseMs: 10 }),
        fault === 'offset' ? /resumed at the wrong offset/ : /changed on the server/,
      );
      await assert.rejects(stat(`${dest}.part`));
    } finally {
      await srv.close();
    }
  }
});

test('downloadFile: redirects are followed, every hop checked; a refused hop stops before any request to it', async () => {
  const body = randomBytes(10_000);
  const hits: string[] = [];
  const srv = await serve((req, res) => {
    hits.push(req.url!);
    if (req.url === '/a') return void res.writeHead(302, { location: '/b' }).end();
    if (req.url === '/b') return void res.writeHead(307, { location: '/c?x=1' }).end();
    if (req.url === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  try {
    const checked: string[] = [];
    const r = await downloadFile(`${srv.base}/a`, path.join(dir, 'redir.bin'), { what: 'test download', checkUrl: (u) => void checked.push(new URL(u).pathname), retryBaseMs: 10 });
    assert.equal(r.sha256, sha(body));
    assert.deepEqual(checked, ['/a', '/b', '/c']);
    hits.length = 0;
    await assert.rejects(
      downloadFile(`${srv.base}/a`, path.join(dir, 'refused.bin'), {
        what: 'test download',
        checkUrl: (u) => {
          if (new URL(u).pathname === '/b') throw new Error('not allowed: /b');
        },
      }),
      /not allowed: \/b/,
    );
    assert.deepEqual(hits, ['/a']);
    await assert.rejects(downloadFile(`${srv.base}/loop`, path.join(dir, 'loop.bin'), { what: 'test download', checkUrl: () => {}, maxRedirects: 3 }), /too many redirects/);
  } finally {
    await srv.close();
  }
});

test('uploadFile: cut mid-body and sent again whole; Content-Length, progress and hash; a 4xx is final', async () => {
  const file = path.join(dir, 'up.bin');
  const data = randomBytes(5_000_000);
  await writeFile(file, data);
  let n = 0;
  const received: string[] = [];
  const srv = await serve((req, res) => {
    const attempt = ++n;
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
  const seen: number[] = [];
  try {
    const r = await uploadFile(`${srv.base}/up`, file, { what: 'test upload', retryBaseMs: 10, progress: { update: (b: number) => seen.push(b), finish: () => {} } });
    assert.equal(r.attempts, 2);
    assert.equal(r.sha256, sha(data));
    assert.deepEqual(r.answer, { ok: data.length });
    assert.deepEqual(received, [sha(data)]);
    assert.equal(seen.at(-1), data.length);
    assert.ok(seen.includes(0), 'progress starts over with the second attempt');
    n = 1; // no more cuts
    await assert.rejects(uploadFile(`${srv.base}/refuse`, file, { what: 'test upload', retryBaseMs: 10 }), /HTTP 413 \(too large for this test\)/);
    assert.equal(n, 2, 'a 4xx answer is final');
  } finally {
    await srv.close();
  }
});

test('uploadFile: a 500 answered before the body is read is retried, then final, with the answer or a sentence, never a bare EPIPE', async () => {
  const file = path.join(dir, 'early.bin');
  await writeFile(file, randomBytes(8_000_000));
  let n = 0;
  const srv = await serve((req, res) => {
    n++;
    res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' }).end('database is down');
    req.socket.destroySoon();
  });
  try {
    await assert.rejects(uploadFile(`${srv.base}/up`, file, { what: 'test upload', attempts: 3, retryBaseMs: 10 }), (err: Error) => {
      // Which one depends on whether undici read the answer before its next write failed.
      assert.match(err.message, /^test upload: (HTTP 500 \(database is down\)|the server closed the connection after \d+ of 8000000 bytes without an answer)/);
      return true;
    });
    assert.equal(n, 3, 'retried within the attempts');
  } finally {
    await srv.close();
  }
});

test('cancellation: an abort mid-download rejects with the reason and leaves no .part; mid-upload it stops sending', async () => {
  const srv = await serve((req, res) => {
    if (req.method === 'POST') return void req.resume(); // reads forever, never answers
    res.writeHead(200, { 'content-length': 100_000_000 });
    res.write(randomBytes(100_000)); // then silence
  });
  try {
    const ac = new AbortController();
    const dest = path.join(dir, 'cancel.bin');
    const p = downloadFile(`${srv.base}/f`, dest, {
      what: 'test download',
      checkUrl: () => {},
      signal: ac.signal,
      progress: { update: (b: number) => void (b > 0 && ac.abort(new Error('cancelled by the test'))), finish: () => {} },
    });
    await assert.rejects(p, /cancelled by the test/);
    await assert.rejects(stat(`${dest}.part`));

    const file = path.join(dir, 'cancel-up.bin');
    await writeFile(file, randomBytes(20_000_000));
    const up = new AbortController();
    let last = 0;
    const q = uploadFile(`${srv.base}/up`, file, {
      what: 'test upload',
      signal: up.signal,
      progress: {
        update: (b: number) => {
          last = b;
          if (b > 0) up.abort(new Error('upload cancelled by the test'));
        },
        finish: () => {},
      },
    });
    await assert.rejects(q, /upload cancelled by the test/);
    assert.ok(last < 20_000_000, 'the upload stopped before the end');
  } finally {
    await srv.close();
  }
});

test('headers deadline: interim 1xx answers trickled forever, or header bytes one at a time, end in a timeout error', async () => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('data', () => {
      const bytes = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      let i = 0;
      // /1xx: a 102 Processing every 20 ms; otherwise the final answer one byte every 20 ms.
      const t = setInterval(() => {
        if (s.destroyed) return clearInterval(t);
        s.write(interim ? 'HTTP/1.1 102 Processing\r\n\r\n' : bytes.subarray(i, ++i));
        if (i >= bytes.length - 4) i = 0; // never completes
      }, 20);
      s.on('close', () => clearInterval(t));
    });
  });
  let interim = true;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
  const d = makeDispatcher({ connectTimeoutMs: 5000, headersDeadlineMs: 400, bodyTimeoutMs: 5000, keepAliveTimeoutMs: 1000 });
  try {
    for (const mode of [true, false]) {
      interim = mode;
      await assert.rejects(request(url, { dispatcher: d }), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'ETIMEDOUT', String(err));
        assert.match(err.message, /headers timeout/);
        return true;
      });
    }
  } finally {
    await d.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('proxy choice: HTTPS_PROXY for https only, HTTP_PROXY for http only; NO_PROXY names, suffixes, ports, CIDR, *', () => {
  const env = { HTTPS_PROXY: 'http://proxy.corp:3128', http_proxy: 'proxy.corp:8080', NO_PROXY: 'internal.example, .corp.example,*.wild.example api.example:8443 10.0.0.0/8 [::1] fd00::/8' };
  const p = (u: string, e: Record<string, string | undefined> = env) => proxyFor(new URL(u), e);
  assert.equal(p('https://upgrade.odoo.com/x'), 'http://proxy.corp:3128');
  assert.equal(p('http://upgrade.odoo.com/x'), 'http://proxy.corp:8080', 'a bare host:port gets http://');
  assert.equal(p('https://a.example/', { HTTP_PROXY: 'http://p:1' }), undefined, 'HTTP_PROXY is not used for https');
  assert.equal(p('https://a.example/', { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:1' }), 'http://lower:1');
  for (const direct of ['https://internal.example/', 'https://x.internal.example/', 'https://corp.example/', 'https://a.corp.example/', 'https://a.wild.example/', 'https://api.example:8443/', 'https://10.1.2.3/', 'https://[::1]:9/', 'https://[fd00::5]/', 'https://INTERNAL.example./']) {
    assert.equal(p(direct), undefined, direct);
  }
  for (const proxied of ['https://wild.example/', 'https://api.example/', 'https://11.1.2.3/', 'https://notinternal.example/', 'https://127.0.0.1:8443/', 'https://[fe80::1]/']) {
    assert.equal(p(proxied), 'http://proxy.corp:3128', proxied);
  }
  assert.equal(bypassed(new URL('https://anything/'), ' * '), true);
  assert.equal(bypassed(new URL('https://127.0.0.1:5/'), 'localhost,127.0.0.1'), true);
});
