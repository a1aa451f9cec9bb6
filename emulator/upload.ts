// The HTTPS upload: the whole dump as one raw body with a Content-Length, streamed to disk
// and hashed on the way; anything short of complete is thrown away.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { authenticate, wrongState, type Env, type Params } from './context.ts';
import type { Call, Failure } from './http-util.ts';
import { discardBody, failure, sendJson } from './http-util.ts';
import { compressionsOf, sniffFile } from './results.ts';
import type { EmuRequest } from './server.ts';

export async function upload(env: Env, req: IncomingMessage, res: ServerResponse, call: Call, p: Params): Promise<void> {
  const id = p.values.get('request');
  if (id) call.requestId = id;
  const answer = (failures: Failure[]) => {
    if (res.headersSent || res.destroyed || req.socket.destroyed) return;
    sendJson(res, call, 200, { failures });
  };
  const reject = (failures: Failure[]) => {
    discardBody(req, call);
    answer(failures);
  };
  const r = authenticate(env, p.values);
  if (Array.isArray(r)) return reject(r);
  if (r.state !== 'draft') return reject([wrongState(r.state, ['draft'], 'upload a dump to')]);
  const length = req.headers['content-length'];
  if (length === undefined || !/^\d+$/.test(length)) {
    return reject([failure('UPLOAD:LENGTH_REQUIRED', 'The upload needs a Content-Length header (the whole dump in one request body)')]);
  }
  const expected = Number(length);
  if (expected === 0) return reject([failure('UPLOAD:EMPTY', 'The uploaded file is empty')]);

  const part = path.join(r.dir, `upload-${randomBytes(6).toString('hex')}.part`);
  const hash = createHash('sha256');
  const cutAt = env.runtime.takeUploadCut();
  let received = 0;
  let cut = false;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (cutAt !== undefined && received + chunk.length >= cutAt) {
        // The scenario's broken connection: keep nothing of this upload.
        received += chunk.length;
        call.bytesIn += chunk.length;
        cut = true;
        req.socket.destroy();
        done(new Error('upload cut by the scenario'));
        return;
      }
      received += chunk.length;
      call.bytesIn += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  r.uploads++; // every attempt that reaches the body counts, a cut or failed one too
  env.builder.warm(); // a dump is on its way: PostgreSQL starts while it arrives
  try {
    await pipeline(req, meter, createWriteStream(part));
  } catch {
    await rm(part, { force: true });
    if (cut) {
      call.aborted = true;
      env.log(`request ${r.id}: upload cut after ${received} bytes (scenario)`);
      return;
    }
    return answer([failure('UPLOAD:INCOMPLETE', `The upload stopped after ${received} of ${expected} bytes`, { value: received, expected })]);
  }
  if (received !== expected) {
    await rm(part, { force: true });
    return answer([failure('UPLOAD:INCOMPLETE', `The upload stopped after ${received} of ${expected} bytes`, { value: received, expected })]);
  }
  if (r.state !== 'draft') {
    await rm(part, { force: true });
    return answer([wrongState(r.state, ['draft'], 'upload a dump to')]);
  }
  const dest = path.join(r.dir, 'upload', safeName(r.filename));
  await rename(part, dest);
  const st = await stat(dest);
  r.uploadedPath = dest;
  r.uploadedBytes = st.size;
  r.uploadedMtimeMs = st.mtimeMs;
  r.uploadedSha256 = hash.digest('hex');
  r.compressions = compressionsOf(await sniffFile(dest));
  env.log(`request ${r.id}: ${received} bytes uploaded`);
  answer([]);
}

function safeName(filename: string): string {
  const base = filename.replace(/[^A-Za-z0-9._~+-]/g, '_').replace(/^\.+/, '_');
  return base || 'dump';
}

/** Takes in a file that reached the upload path another way (SFTP) or changed since. */
export async function refreshUpload(r: EmuRequest): Promise<void> {
  if (!r.uploadedPath) return;
  const st = await stat(r.uploadedPath).catch(() => undefined);
  if (!st?.isFile()) {
    r.uploadedBytes = 0;
    r.uploadedSha256 = undefined;
    r.compressions = [];
    return;
  }
  if (st.size === r.uploadedBytes && st.mtimeMs === r.uploadedMtimeMs) return;
  r.uploadedBytes = st.size;
  r.uploadedMtimeMs = st.mtimeMs;
  r.uploadedSha256 = undefined;
  r.compressions = st.size ? compressionsOf(await sniffFile(r.uploadedPath)) : [];
}
