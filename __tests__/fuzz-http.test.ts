// Hostile HTTP servers against undici's framing as the action uses it: a raw TCP (and TLS)
// server answers the dump's download, the dump's upload and a JSON API call with generated
// answers (floods of 1xx interim answers, bogus Content-Length, chunk sizes like
// `ffffffffffff`, truncated bodies, junk, header bytes trickled one at a time, silence).
// Properties: no uncaught exception, a settled call within a bounded time, and a failure is
// an Error that names the operation (ours) or says what was wrong (never a RangeError or
// TypeError from deep inside a parser); a well-formed answer still succeeds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { Agent } from 'undici';
import { downloadFile, uploadFile } from '../src/transfer/http.ts';
import { headersDeadline } from '../src/net/dispatch.ts';
import { callJson, closeDispatcher } from '../src/net/http.ts';
import { ensureCerts } from '../emulator/certs.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const DEADLINE_MS = 60; // headers (total) and body (idle) timeouts of the fuzzed client
const SETTLE_MS = 20_000; // a call that has not settled by then hangs: the property fails

type Framing =
  | { type: 'length'; declared: string; actual: number }
  | { type: 'chunked'; sizes: string[]; end: boolean }
  | { type: 'close'; bytes: number }
  | { type: 'junk'; bytes: Uint8Array };

interface Answer {
  interim: { line: string; count: number };
  status: string;
  framing: Framing;
  delivery: 'all' | 'split' | 'trickle';
  ending: 'close' | 'hang';
}

const answerArb: fc.Arbitrary<Answer> = fc.record({
  interim: fc.record({
    line: fc.constantFrom('HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 102 Processing\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n'),
    count: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2000, max: 60_000 })),
  }),
  status: fc.constantFrom('200 OK', '200 OK', '206 Partial Content', '204 No Content', '302 Found', '404 Not Found', '500 Oops', '999 What', '20 Short', 'abc'),
  framing: fc.oneof(
    fc.record({
      type: fc.constant('length' as const),
      declared: fc.oneof(fc.nat({ max: 4000 }).map(String), fc.constantFrom('-1', 'abc', '99999999999999999999999', '1, 2', '0x10', '9007199254740993', '')),
      actual: fc.nat({ max: 4000 }),
    }),
    fc.record({
      type: fc.constant('chunked' as const),
      sizes: fc.array(fc.oneof(fc.nat({ max: 3000 }).map((n) => n.toString(16)), fc.constantFrom('ffffffffffff', 'fffffffffffffffffffff', '-1', 'zz', '', '5;ext="x"')), { maxLength: 4 }),
      end: fc.boolean(),
    }),
    fc.record({ type: fc.constant('close' as const), bytes: fc.nat({ max: 4000 }) }),
    fc.record({ type: fc.constant('junk' as const), bytes: fc.uint8Array({ maxLength: 300 }) }),
  ),
  delivery: fc.constantFrom('all', 'all', 'split', 'trickle'),
  ending: fc.constantFrom('close', 'close', 'close', 'hang'),
});

function frame(a: Answer, body: Buffer): Buffer {
  const head = Buffer.from(a.interim.line.repeat(a.interim.count));
  const f = a.framing;
  if (f.type === 'junk') return Buffer.concat([head, Buffer.from(f.bytes)]);
  const status = `HTTP/1.1 ${a.status}\r\n`;
  if (f.type === 'length') {
    return Buffer.concat([head, Buffer.from(`${status}Content-Length: ${f.declared}\r\nETag: "e"\r\n\r\n`), body.subarray(0, f.actual)]);
  }
  if (f.type === 'close') return Buffer.concat([head, Buffer.from(`${status}Connection: close\r\n\r\n`), body.subarray(0, f.bytes)]);
  const parts: Buffer[] = [head, Buffer.from(`${status}Transfer-Encoding: chunked\r\n\r\n`)];
  let at = 0;
  for (const size of f.sizes) {
    const n = Math.min(parseInt(size, 16) || 0, 3000);
    parts.push(Buffer.from(`${size}\r\n`), body.subarray(at, at + n), Buffer.from('\r\n'));
    at += n;
  }
  if (f.end) parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

/** A server that answers each request (after its headers, reading and dropping any body) with `current`. */
async function hostileServer(secure: boolean): Promise<{ url: string; set(a: Answer, body: Buffer): void; close(): Promise<void> }> {
  let answer: Answer | undefined;
  let bytes: Buffer = Buffer.alloc(0);
  const sockets = new Set<net.Socket>();
  const onSocket = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let seen = '';
    const onData = (d: Buffer) => {
      seen += d.toString('latin1');
      if (!seen.includes('\r\n\r\n') || !answer) return;
      s.off('data', onData);
      s.resume(); // the rest of an upload's body is read and dropped
      const a = answer;
      const out = bytes;
      const finish = () => {
        if (a.ending === 'close' && !s.destroyed) s.end();
      };
      if (a.delivery === 'all') return void s.write(out, finish);
      // split: a few pieces at awkward places; trickle: the first 40 bytes one at a time, then the rest
      const pieces: Buffer[] = [];
      if (a.delivery === 'split') for (let i = 0, k = 1; i < out.length; i += k, k = (k * 7) % 4099 || 1) pieces.push(out.subarray(i, i + k));
      else {
        for (let i = 0; i < Math.min(40, out.length); i++) pieces.push(out.subarray(i, i + 1));
        if (out.length > 40) pieces.push(out.subarray(40));
      }
      let i = 0;
      const next = () => {
        if (s.destroyed) return;
        if (i === pieces.length) return finish();
        s.write(pieces[i++], () => (a.delivery === 'trickle' ? setTimeout(next, 5) : setImmediate(next)));
      };
      next();
    };
    s.on('data', onData);
  };
  const certs = await ensureCerts();
  const server = secure
    ? tls.createServer({ cert: await readFile(certs.certFile), key: await readFile(certs.keyFile) }, onSocket)
    : net.createServer(onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `${secure ? 'https' : 'http'}://127.0.0.1:${port}/fuzz?key=k`,
    set(a, body) {
      answer = a;
      bytes = frame(a, body);
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let dir: string;
let plain: Awaited<ReturnType<typeof hostileServer>>;
let secure: Awaited<ReturnType<typeof hostileServer>>;
let dispatcher: ReturnType<Agent['compose']>;
let agent: Agent;
const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => void uncaught.push(err);

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fuzz-http-'));
  plain = await hostileServer(false);
  secure = await hostileServer(true);
  const certs = await ensureCerts();
  agent = new Agent({ connect: { ca: await readFile(certs.caFile), timeout: 2000 }, headersTimeout: DEADLINE_MS, bodyTimeout: DEADLINE_MS, keepAliveTimeout: 1000 });
  dispatcher = agent.compose(headersDeadline(DEADLINE_MS));
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
});

after(async () => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
  await agent?.close();
  await closeDispatcher();
  await plain?.close();
  await secure?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `call` to completion or fails the property when it does not settle within SETTLE_MS. */
async function settles<T>(what: string, call: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${SETTLE_MS} ms`)), SETTLE_MS);
  });
  try {
    return await Promise.race([call().then((value) => ({ ok: true as const, value }), (err: unknown) => ({ ok: false as const, err })), watchdog]);
  } finally {
    clearTimeout(timer);
  }
}

function clearError(err: unknown, what: RegExp): void {
  assert.ok(err instanceof Error, `not an Error: ${String(err)}`);
  assert.ok(!(err instanceof RangeError) && !(err instanceof TypeError), `a ${err.name} escaped: ${err.message}`);
  assert.match(err.message, what);
  assert.ok(err.message.length < 2000, 'a bounded message');
}

const config = (extra: Partial<fc.Parameters<[Answer, boolean]>> = {}) => ({ numRuns: RUNS, seed: SEED, ...extra });

test('the dump download against hostile answers: settles, clear error, no crash; a well-formed 200 gives the exact bytes', async () => {
  const body = randomBytes(4000);
  await fc.assert(
    fc.asyncProperty(answerArb, fc.boolean(), async (a, useTls) => {
      const srv = useTls ? secure : plain;
      srv.set(a, body);
      const dest = path.join(dir, 'down.bin');
      const r = await settles('downloadFile', () => downloadFile(srv.url, dest, { what: 'fuzz download', checkUrl: () => {}, attempts: 1, maxRedirects: 1, dispatcher }));
      assert.deepEqual(uncaught, []);
      if (r.ok) {
        const got = await readFile(dest);
        assert.equal(r.value.sha256, createHash('sha256').update(got).digest('hex'));
        assert.equal(r.value.bytes, got.length);
        const f = a.framing;
        if (f.type === 'length' && /^\d+$/.test(f.declared)) assert.equal(got.length, Number(f.declared), 'exactly the announced length');
      } else {
        clearError(r.err, /fuzz download|redirect/);
      }
    }),
    config(),
  );
});

test('the dump upload against hostile answers: settles, clear error, no crash', async () => {
  const file = path.join(dir, 'up.bin');
  await writeFile(file, randomBytes(64 * 1024));
  const json = Buffer.from('{"ok":true}'.padEnd(4000, ' '));
  await fc.assert(
    fc.asyncProperty(answerArb, fc.boolean(), async (a, useTls) => {
      const srv = useTls ? secure : plain;
      srv.set(a, json);
      const r = await settles('uploadFile', () => uploadFile(srv.url, file, { what: 'fuzz upload', attempts: 1, dispatcher }));
      assert.deepEqual(uncaught, []);
      if (r.ok) assert.equal(r.value.bytes, 64 * 1024);
      else clearError(r.err, /fuzz upload/);
    }),
    config(),
  );
});

test('a JSON API call against hostile answers that end (the shared dispatcher): settles, an Error, no crash', async () => {
  const json = Buffer.from('{"state":"done"}'.padEnd(4000, ' '));
  await fc.assert(
    fc.asyncProperty(answerArb.map((a) => ({ ...a, ending: 'close' as const, delivery: a.delivery === 'trickle' ? ('split' as const) : a.delivery })), async (a) => {
      plain.set(a, json);
      const r = await settles('callJson', () => callJson({ url: plain.url, what: 'fuzz status' }));
      assert.deepEqual(uncaught, []);
      if (r.ok) assert.equal(typeof r.value.body, 'object');
      else {
        assert.ok(r.err instanceof Error, String(r.err));
        assert.ok(!(r.err instanceof RangeError) && !(r.err instanceof TypeError), `${r.err.name}: ${r.err.message}`);
        assert.ok(r.err.message.length > 0);
      }
    }),
    { numRuns: RUNS, seed: SEED },
  );
});

test('known hostile cases, each once: a 60 000-answer 1xx flood, header bytes trickled past the deadline, chunk size ffffffffffff', async () => {
  const body = randomBytes(1000);
  const base: Answer = { interim: { line: 'HTTP/1.1 102 Processing\r\n\r\n', count: 0 }, status: '200 OK', framing: { type: 'length', declared: '1000', actual: 1000 }, delivery: 'all', ending: 'close' };
  // A flood followed by a good answer: skipped (no stack overflow), the bytes arrive.
  plain.set({ ...base, interim: { line: base.interim.line, count: 60_000 } }, body);
  const roomy = new Agent().compose(headersDeadline(10_000));
  const ok = await downloadFile(plain.url, path.join(dir, 'flood.bin'), { what: 'fuzz download', checkUrl: () => {}, attempts: 1, dispatcher: roomy });
  await roomy.close();
  assert.equal(ok.sha256, createHash('sha256').update(body).digest('hex'));
  // 1xx answers trickled forever, each re-arming undici's own (10 s) headers timer: the total deadline ends it.
  const sockets = new Set<net.Socket>();
  const drip = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    const t = setInterval(() => s.write('HTTP/1.1 102 Processing\r\n\r\n'), 20);
    s.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => drip.listen(0, '127.0.0.1', r));
  const patient = new Agent({ headersTimeout: 10_000, bodyTimeout: 10_000 });
  try {
    const url = `http://127.0.0.1:${(drip.address() as net.AddressInfo).port}/`;
    const slow = await settles('trickled 1xx', () => downloadFile(url, path.join(dir, 'slow.bin'), { what: 'fuzz download', checkUrl: () => {}, attempts: 1, dispatcher: patient.compose(headersDeadline(400)) }));
    assert.equal(slow.ok, false);
    if (!slow.ok) assert.match((slow.err as Error).message, /^fuzz download failed: No complete answer .* \(headers timeout\)/);
  } finally {
    await patient.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => drip.close(() => r()));
  }
  // An impossible chunk size: refused, not allocated.
  plain.set({ ...base, framing: { type: 'chunked', sizes: ['ffffffffffff'], end: false }, ending: 'hang' }, body);
  const huge = await settles('ffffffffffff', () => downloadFile(plain.url, path.join(dir, 'huge.bin'), { what: 'fuzz download', checkUrl: () => {}, attempts: 1, dispatcher }));
  assert.equal(huge.ok, false);
  if (!huge.ok) clearError(huge.err, /fuzz download failed/);
  assert.deepEqual(uncaught, []);
});
