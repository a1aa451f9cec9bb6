// What the tuned HTTPS transfers must keep while they go fast: the upload reuses a few read
// buffers (so a buffer refilled too early would send other bytes than the file's), the download
// queues chunks for one writev (so a cut mid-queue must not lose or double a byte), and a file
// that changes under an upload is an error, not a silent short or long body. Behaviour only, not timed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { appendFileSync, truncateSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { Agent } from 'undici';
import { downloadFile, uploadFile } from '../src/transfer/http.ts';
import { ensureCerts } from '../emulator/certs.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const RUNS = Number(process.env.FUZZ_RUNS ?? 0) || 6;
let dir: string;
let tls: { cert: Buffer; key: Buffer; ca: Buffer };
let httpsAgent: Agent;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'http-throughput-'));
  const c = await ensureCerts();
  tls = { cert: await readFile(c.certFile), key: await readFile(c.keyFile), ca: await readFile(c.caFile) };
  httpsAgent = new Agent({ connect: { ca: tls.ca } });
});
after(async () => {
  await httpsAgent.close();
  await rm(dir, { recursive: true, force: true });
});

async function serve(secure: boolean, handler: http.RequestListener): Promise<{ base: string; close(): Promise<void> }> {
  const server = secure ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `${secure ? 'https' : 'http'}://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A server that takes uploads slowly: it stops reading now and then, so the client's socket backs up. */
function slowReader(pauses: number[]) {
  const got: string[] = [];
  const handler: http.RequestListener = (req, res) => {
    const h = createHash('sha256');
    let n = 0;
    let chunks = 0;
    req.on('data', (c: Buffer) => {
      h.update(c);
      n += c.length;
      const pause = pauses[chunks++ % pauses.length];
      if (pause > 0) {
        req.pause();
        setTimeout(() => req.resume(), pause);
      }
    });
    req.on('end', () => {
      got.push(h.digest('hex'));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes: n }));
    });
  };
  return { got, handler };
}

test('uploadFile: the server receives exactly the file, whatever its size and however slowly it reads (reused read buffers), over HTTP and HTTPS', async () => {
  const file = path.join(dir, 'up.bin');
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      // Around the 128 KiB read size and its multiples, and a few MiB.
      fc.oneof(fc.integer({ min: 1, max: 300_000 }), fc.constantFrom(128 * 1024, 4 * 128 * 1024, 5 * 128 * 1024 + 1), fc.integer({ min: 1_000_000, max: 3_000_000 })),
      fc.array(fc.constantFrom(0, 0, 0, 1, 3, 10), { minLength: 1, maxLength: 8 }),
      async (secure, size, pauses) => {
        const data = randomBytes(size);
        await writeFile(file, data);
        const { got, handler } = slowReader(pauses);
        const srv = await serve(secure, handler);
        try {
          const r = await uploadFile(`${srv.base}/up`, file, { what: 'test upload', attempts: 1, dispatcher: secure ? httpsAgent : undefined });
          assert.deepEqual(got, [sha(data)], 'the server got the file byte for byte');
          assert.equal(r.sha256, sha(data));
          assert.equal(r.bytes, size);
          assert.deepEqual(r.answer, { bytes: size });
        } finally {
          await srv.close();
        }
      },
    ),
    { numRuns: RUNS },
  );
});

test('uploadFile: a file that grows or shrinks during the upload is an error naming it, never a body of other bytes', async () => {
  const file = path.join(dir, 'changing.bin');
  const srv = await serve(false, (req, res) => {
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    req.on('error', () => undefined);
    req.resume();
  });
  try {
    for (const change of ['grow', 'shrink'] as const) {
      await writeFile(file, randomBytes(2_000_000));
      let changed = false;
      // Changed once the first chunk went out: the reads after it see the new file.
      const progress = {
        update: (sent: number) => {
          if (sent === 0 || changed) return;
          changed = true;
          if (change === 'grow') appendFileSync(file, 'more');
          else truncateSync(file, 300_000);
        },
        finish: () => {},
      };
      await assert.rejects(uploadFile(`${srv.base}/up`, file, { what: 'test upload', attempts: 1, progress }), (err: Error) => {
        assert.match(err.message, /^test upload/);
        assert.match(err.message, change === 'grow' ? /changed size during the upload/ : /ended after 300000 of 2000000 bytes/);
        assert.ok(err.message.includes(file), err.message);
        return true;
      });
      assert.ok(changed, change);
    }
  } finally {
    await srv.close();
  }
});

test('downloadFile: queued writes lose and double nothing, whatever the cut points and chunk sizes, over HTTP and HTTPS', async () => {
  const dest = path.join(dir, 'dl.bin');
  await fc.assert(
    fc.asyncProperty(
      fc.boolean(),
      fc.integer({ min: 1, max: 3_500_000 }),
      // Where each answer is cut, as fractions of what is left (an empty list: no cut).
      fc.array(fc.double({ min: 0, max: 0.95, noNaN: true }), { maxLength: 3 }),
      fc.array(fc.integer({ min: 1, max: 300_000 }), { minLength: 1, maxLength: 6 }),
      async (secure, size, cuts, pieces) => {
        const body = randomBytes(size);
        let answers = 0;
        const srv = await serve(secure, (req, res) => {
          const cut = cuts[answers++];
          const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
          const part = body.subarray(from);
          res.writeHead(from ? 206 : 200, { 'content-length': part.length, etag: '"v1"', ...(from ? { 'content-range': `bytes ${from}-${size - 1}/${size}` } : {}) });
          const stopAt = cut === undefined ? part.length : Math.floor(part.length * cut);
          let at = 0;
          let i = 0;
          const next = () => {
            if (at >= stopAt) return void (cut === undefined ? res.end() : res.socket?.destroy());
            const n = Math.min(pieces[i++ % pieces.length], stopAt - at);
            const chunk = part.subarray(at, at + n);
            at += n;
            res.write(chunk, next);
          };
          next();
        });
        try {
          const r = await downloadFile(`${srv.base}/f`, dest, { what: 'test download', checkUrl: () => {}, retryBaseMs: 1, attempts: cuts.length + 1, dispatcher: secure ? httpsAgent : undefined });
          assert.equal(r.bytes, size);
          assert.equal(r.sha256, sha(body));
          assert.equal(sha(await readFile(dest)), sha(body), 'the file on disk is the body');
          assert.ok(r.resumes <= cuts.length, `${r.resumes} resumes for ${cuts.length} cuts`);
          await assert.rejects(stat(`${dest}.part`));
        } finally {
          await srv.close();
          await rm(dest, { force: true });
        }
      },
    ),
    { numRuns: RUNS },
  );
});
