// SFTP upload/download over ssh2 with many requests in flight (one request at a time is
// latency-bound: a few MiB/s over the Atlantic), resumed from the size already on the far
// side after a cut, with the server's host key pinned across reconnects.
import { createHash, createSecretKey, randomBytes, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import net from 'node:net';
import ssh2 from 'ssh2';
import type { Client, SFTPWrapper, Stats } from 'ssh2';
import { withRetry, isTransientNetworkError } from '../net/retry.ts';
import { sha256Fingerprint } from './ssh-keys.ts';
import { formatBytes, type ProgressSink } from './progress.ts';
import { noteSshIgnoresProxy } from '../net/dispatch.ts';
import { Scavenger } from './scavenge.ts';

export interface SftpTarget {
  host: string;
  port: number;
  username: string;
  privateKey: string;
  remotePath: string;
}

export interface SftpOptions {
  progress?: ProgressSink;
  log: (l: string) => void;
  signal?: AbortSignal;
  /** Pin "SHA256:..."; when unset the first key seen is pinned for this call's reconnects. */
  expectedHostKey?: string;
  retries?: number;
  concurrency?: number;
  /** SFTP channels a transfer spreads its requests over (1 = what OpenSSH's sftp does); by default from the measured round trip: uploads take enough of the server's 2 MiB windows per round trip for 160 MiB/s (1 below 2 ms, 2 at 25 ms, 4 from 50 ms); downloads widen their own windows instead and keep one channel up to 100 ms. */
  channels?: number;
  chunkSize?: number;
  /** First backoff step between reconnects (tests shorten it). */
  retryBaseMs?: number;
  /** A connection with requests pending and no answer for this long is dropped and redone. */
  stallTimeoutMs?: number;
}

export interface SftpResult {
  bytes: number;
  hostKeyFingerprint: string;
  resumedFrom: number[]; // offsets of resumes
  sha256?: string;
}

export class HostKeyMismatchError extends Error {
  constructor(host: string, expected: string, got: string) {
    super(`The SSH host key of ${host} changed: expected ${expected}, got ${got}. Refusing to connect (possible interception).`);
    this.name = 'HostKeyMismatchError';
  }
}

export class SftpTransferError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SftpTransferError';
  }
}

const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp;
// Uploads: enough requests to fill the server's channel window (64 × 32 KiB for OpenSSH's
// 2 MiB): beyond it requests only queue in ssh2, and below it a long link idles.
// Downloads: answers also wait to be written locally, so more requests help (measured on
// loopback). 32 KiB fits a single SFTP packet on any server.
const DEFAULT_CHUNK = 32 * 1024;
const UPLOAD_DEPTH = 64;
// Each SFTP channel has its own flow-control window (OpenSSH's server grants 2 MiB), so one
// channel moves at most a window per round trip; over a long link, uploads spread their
// requests over several (downloads grant their own windows: ReceiveWindow). On a short link the window is no limit and extra channels only cost CPU
// (measured in bench/: 4 channels on loopback ran 0.8× one channel).
// At most 4 (160 MiB/s at 50 ms, 80 MiB/s at 100 ms): a resume after an earlier run rewrites
// what that run could have had in flight, channels × window, so this also bounds the rewind.
const MAX_CHANNELS = 4;
const LONG_LINK_MS = 2; // a round trip from which one window per round trip is < 1 GB/s
// The rate the channels' windows should allow per round trip: above a gigabit link, so that the
// link, not the windows, is the limit (160 MiB/s: 4 channels of 2 MiB at 50 ms).
const WINDOWED_RATE = 160 * 1024 * 1024;
// SFTP WRITE header: length, type, request id, handle string length, offset, data length.
const WRITE_HEADER = 4 + 1 + 4 + 4 + 8 + 4;
const MAX_UPLOAD_DEPTH = 512;
const DOWNLOAD_DEPTH = 128;
const MAX_DOWNLOAD_DEPTH = 512;
// SFTP DATA header: length, type, request id, data length.
const DATA_HEADER = 4 + 1 + 4 + 4;
const READ_BLOCK = 1024 * 1024; // local reads, sliced into requests
const CHECK_BYTES = 64 * 1024; // compared before trusting a partial file
const MAX_IOV = 256; // buffers per local writev (IOV_MAX is 1024)

export async function sftpUpload(localPath: string, target: SftpTarget, opts: SftpOptions): Promise<SftpResult> {
  noteSshIgnoresProxy(opts.log);
  const local = await open(localPath, 'r');
  const ctx = newContext(opts);
  try {
    const size = (await local.stat()).size;
    const hash = new PrefixHash(local);
    await withReconnects('upload', target, opts, ctx, (s) => uploadOnce(s, local, size, target.remotePath, hash, ctx, opts));
    return { bytes: size, hostKeyFingerprint: ctx.pinned as string, resumedFrom: ctx.resumedFrom, sha256: await hash.digest(size) };
  } finally {
    opts.progress?.finish();
    await local.close();
  }
}

export async function sftpDownload(target: SftpTarget, localPath: string, opts: SftpOptions): Promise<SftpResult> {
  noteSshIgnoresProxy(opts.log);
  const local = await open(localPath, 'a+').then((fh) => fh.close()).then(() => open(localPath, 'r+'));
  const ctx = newContext(opts);
  // Hashed as written; a local file that is started over gets a new hash.
  const hash = new PrefixHash(local);
  try {
    const size = await withReconnects('download', target, opts, ctx, (s) => downloadOnce(s, local, target.remotePath, hash, ctx, opts));
    return { bytes: size, hostKeyFingerprint: ctx.pinned as string, resumedFrom: ctx.resumedFrom, sha256: await hash.digest(size) };
  } finally {
    opts.progress?.finish();
    await local.close();
  }
}

interface Context {
  pinned?: string;
  keyLogged?: boolean;
  resumedFrom: number[];
  done: number; // absolute bytes safely on the far side, for progress and "did this round move"
  acked?: AckedPrefix; // of the latest upload attempt
}

/** The end of the longest run of acknowledged writes from `start`: where a resume may go on. */
class AckedPrefix {
  prefix: number;
  private readonly ahead = new Map<number, number>(); // offset → length, acknowledged past a gap

  constructor(start: number) {
    this.prefix = start;
  }

  add(at: number, n: number): void {
    if (at !== this.prefix) {
      this.ahead.set(at, n);
      return;
    }
    this.prefix += n;
    for (let next = this.ahead.get(this.prefix); next !== undefined; next = this.ahead.get(this.prefix)) {
      this.ahead.delete(this.prefix);
      this.prefix += next;
    }
  }
}

function newContext(opts: SftpOptions): Context {
  return { pinned: opts.expectedHostKey ? normalizeFingerprint(opts.expectedHostKey) : undefined, resumedFrom: [], done: 0 };
}

// --- upload -------------------------------------------------------------------------

async function uploadOnce(s: Session, local: FileHandle, size: number, remotePath: string, hash: PrefixHash, ctx: Context, opts: SftpOptions): Promise<void> {
  const channels = Math.max(1, opts.channels ?? MAX_CHANNELS); // the most this upload may use
  // No TRUNC: what an earlier attempt wrote is kept and appended to.
  let readable = true;
  let handle = await s.call<Buffer>((cb) => s.sftp.open(remotePath, OPEN_MODE.READ | OPEN_MODE.WRITE | OPEN_MODE.CREAT, cb)).catch((err) => {
    if (statusOf(err) !== STATUS_CODE.PERMISSION_DENIED) throw err;
    readable = false; // a write-only drop box: resume without checking what is there
    return s.call<Buffer>((cb) => s.sftp.open(remotePath, OPEN_MODE.WRITE | OPEN_MODE.CREAT, cb));
  });
  // Each WRITE in one SSH packet: 32 KiB of data plus the header would take two (the second a
  // few dozen bytes, at the full per-packet cost), since sshd's channels take 32 KiB packets.
  const chunk = opts.chunkSize ?? Math.max(1024, Math.min(DEFAULT_CHUNK, s.packetSize - WRITE_HEADER - handle.length));
  const depth = opts.concurrency ?? Math.min(MAX_UPLOAD_DEPTH, Math.max(UPLOAD_DEPTH, Math.ceil(s.serverWindow / (chunk + WRITE_HEADER + handle.length))));
  const lanes: Lane[] = [];
  try {
    const asked = performance.now();
    const remoteSize = await s.call<Stats>((cb) => s.sftp.fstat(handle, cb)).then(
      (st) => st.size,
      (err) => {
        if (statusOf(err) === undefined) throw err; // the connection, not the file
        return undefined; // unknown size: start over
      },
    );
    // Requests run out of order (across channels, and on some servers within one), so the remote
    // size can hide holes. Within this call every acknowledged write is known: go on from the
    // end of the acknowledged prefix. A file from an earlier run: rewrite what could have been
    // in flight, which costs little.
    const known = ctx.acked?.prefix;
    let start =
      remoteSize === undefined || remoteSize > size ? 0
      : known !== undefined ? Math.min(known, remoteSize)
      : Math.max(0, remoteSize - channels * depth * chunk);
    start -= start % chunk;
    if (start > 0 && readable && !(await samePrefixEnd(s, handle, local, start))) {
      opts.log(`The remote ${remotePath} does not hold the start of this file; uploading it again from the beginning.`);
      start = 0;
    }
    // A shorter or equal remote file is overwritten in full below; a longer one must shrink.
    if (start === 0 && (remoteSize === undefined || remoteSize > size)) handle = await truncate(s, handle, remotePath);
    if (start > 0) {
      ctx.resumedFrom.push(start);
      opts.log(`Resuming the upload at ${formatBytes(start)} of ${formatBytes(size)}.`);
    }
    ctx.done = start;
    ctx.acked = new AckedPrefix(start);
    opts.progress?.update(start);
    lanes.push({ sftp: s.sftp, handle });
    const roundTripMs = await shortestRoundTrip(s, handle, performance.now() - asked);
    const wanted = opts.channels ?? channelsFor(roundTripMs, s.serverWindow);
    const more = await s.moreChannels(wanted - 1);
    const handles = await Promise.all(more.map((sftp) => s.call<Buffer>((cb) => sftp.open(remotePath, OPEN_MODE.WRITE, cb)).catch(() => undefined)));
    more.forEach((sftp, i) => handles[i] && lanes.push({ sftp, handle: handles[i] }));
    if (wanted > 1) opts.log(`SFTP: writing over ${lanes.length} channels (a round trip took ${roundTripMs.toFixed(0)} ms).`);
    await pipelinedWrite(s, lanes, local, start, size, chunk, depth, hash, ctx, opts);
    const finalSize = (await s.call<Stats>((cb) => s.sftp.fstat(handle, cb))).size;
    if (finalSize !== size) throw new SftpTransferError(`After the upload the remote file holds ${finalSize} bytes, expected ${size}.`);
  } finally {
    for (const lane of lanes.slice(1)) await s.call((cb) => lane.sftp.close(lane.handle, cb)).catch(() => {});
    await s.call((cb) => s.sftp.close(handle, cb)).catch(() => {});
  }
}

interface Lane {
  sftp: SFTPWrapper;
  handle: Buffer;
}

async function truncate(s: Session, handle: Buffer, remotePath: string): Promise<Buffer> {
  try {
    await s.call((cb) => s.sftp.fsetstat(handle, { size: 0 }, cb));
    return handle;
  } catch {
    await s.call((cb) => s.sftp.close(handle, cb)).catch(() => {});
    return s.call<Buffer>((cb) => s.sftp.open(remotePath, OPEN_MODE.WRITE | OPEN_MODE.CREAT | OPEN_MODE.TRUNC, cb));
  }
}

async function pipelinedWrite(
  s: Session, lanes: Lane[], local: FileHandle, start: number, size: number,
  chunk: number, depth: number, hash: PrefixHash, ctx: Context, opts: SftpOptions,
): Promise<void> {
  const gate = new Gate(s, opts.stallTimeoutMs);
  const scavenger = new Scavenger();
  let next = 0;
  try {
    const block = Math.max(chunk, READ_BLOCK - (READ_BLOCK % chunk));
    // Read blocks go back to a pool once every write from them is answered (ssh2 may hold on
    // to a block for a write it splits): a few megabytes reused instead of a fresh one per MiB
    // for the garbage collector, which otherwise runs on external memory growth.
    const pool: Buffer[] = [];
    for (let pos = start; pos < size; ) {
      const mem = pool.pop() ?? Buffer.allocUnsafe(block);
      const buf = await readFully(local, pos, Math.min(block, size - pos), mem);
      await hash.feed(pos, buf); // hashed as read: the block is in cache, and this thread waits on the network anyway
      let unanswered = Math.ceil(buf.length / chunk);
      for (let off = 0; off < buf.length; off += chunk) {
        await gate.slot(depth * lanes.length);
        const n = Math.min(chunk, buf.length - off);
        const lane = lanes[next++ % lanes.length];
        gate.begin();
        s.batch();
        const at = pos + off;
        lane.sftp.write(lane.handle, buf, off, n, at, (err?: Error | null) => {
          if (!err) {
            scavenger.moved(n);
            ctx.done += n;
            ctx.acked?.add(at, n);
            opts.progress?.update(ctx.done);
          }
          if (--unanswered === 0) pool.push(mem);
          gate.end(err ?? undefined);
        });
      }
      pos += buf.length;
    }
    await gate.slot(1);
  } finally {
    gate.dispose();
  }
}

// --- download -----------------------------------------------------------------------

async function downloadOnce(s: Session, local: FileHandle, remotePath: string, hash: PrefixHash, ctx: Context, opts: SftpOptions): Promise<number> {
  // Each answer in one SSH packet: ssh2 takes packets of 32 KiB, so a 32 KiB read came back as
  // two (the second 13 bytes, at the full per-packet cost of a decipher and a buffer).
  const chunk = opts.chunkSize ?? Math.max(1024, Math.min(DEFAULT_CHUNK, s.clientPacketSize - DATA_HEADER));
  const handle = await s.call<Buffer>((cb) => s.sftp.open(remotePath, OPEN_MODE.READ, cb));
  const lanes: Lane[] = [{ sftp: s.sftp, handle }];
  try {
    const asked = performance.now();
    const size = (await s.call<Stats>((cb) => s.sftp.fstat(handle, cb))).size;
    const roundTripMs = await shortestRoundTrip(s, handle, performance.now() - asked);
    let start = (await local.stat()).size; // written in order: the local file is a clean prefix
    if (start > size || (start > 0 && !(await samePrefixEnd(s, handle, local, start)))) {
      if (start > 0) opts.log(`The local ${start}-byte partial file does not match the remote one; downloading again from the beginning.`);
      await local.truncate(0);
      hash.restart();
      start = 0;
    }
    if (start > 0) {
      ctx.resumedFrom.push(start);
      opts.log(`Resuming the download at ${formatBytes(start)} of ${formatBytes(size)}.`);
    }
    ctx.done = start;
    opts.progress?.update(start);
    // Enough requests in flight for WINDOWED_RATE over this round trip (the receive windows are
    // widened to match, see ReceiveWindow), at least DOWNLOAD_DEPTH: answers also wait to be
    // written locally.
    const depth = opts.concurrency ?? Math.min(MAX_DOWNLOAD_DEPTH, Math.max(DOWNLOAD_DEPTH, Math.ceil(((roundTripMs / 1000) * WINDOWED_RATE) / chunk)));
    const wanted = opts.channels ?? channelsFor(roundTripMs, depth * (chunk + DATA_HEADER));
    const more = await s.moreChannels(wanted - 1);
    const handles = await Promise.all(more.map((sftp) => s.call<Buffer>((cb) => sftp.open(remotePath, OPEN_MODE.READ, cb)).catch(() => undefined)));
    more.forEach((sftp, i) => handles[i] && lanes.push({ sftp, handle: handles[i] }));
    if (wanted > 1 || roundTripMs >= LONG_LINK_MS) opts.log(`SFTP: reading over ${lanes.length} channel${lanes.length > 1 ? 's' : ''}, ${depth} requests in flight (a round trip took ${roundTripMs.toFixed(0)} ms).`);
    await pipelinedRead(s, lanes, local, start, size, chunk, depth, hash, ctx, opts);
    const got = (await local.stat()).size;
    if (got !== size) throw new SftpTransferError(`After the download the local file holds ${got} bytes, expected ${size}.`);
    return size;
  } finally {
    for (const lane of lanes.slice(1)) await s.call((cb) => lane.sftp.close(lane.handle, cb)).catch(() => {});
    await s.call((cb) => s.sftp.close(handle, cb)).catch(() => {});
  }
}

async function pipelinedRead(
  s: Session, lanes: Lane[], local: FileHandle, start: number, size: number,
  chunk: number, depth: number, hash: PrefixHash, ctx: Context, opts: SftpOptions,
): Promise<void> {
  const gate = new Gate(s, opts.stallTimeoutMs);
  const arrived = new Map<number, { buf: Buffer; mem: Buffer }>(); // answers may come back out of order
  const scavenger = new Scavenger();
  let next = start;
  let turn = 0;
  // ssh2 copies each answer into the buffer a read was given: buffers come back to this pool
  // once written out, so a download allocates depth × chunk once instead of a buffer per request
  // (garbage that V8 frees late: peak RSS).
  const pool: Buffer[] = [];
  let writing = 0; // buffers of the run being written out: they hold their slots too
  // Each lane may have its share of the requests answered at once.
  const windows = lanes.map((l) => new ReceiveWindow(l.sftp, Math.ceil(depth / lanes.length) * (chunk + DATA_HEADER)));
  const request = (pos: number, len: number) => {
    gate.begin();
    const i = turn++ % lanes.length;
    const lane = lanes[i];
    const into = pool.pop() ?? Buffer.allocUnsafe(chunk);
    lane.sftp.read(lane.handle, into, 0, len, pos, (err, nb, data) => {
      windows[i].topUp();
      if (!err && nb === 0) err = new SftpTransferError(`The remote file ended at ${pos} bytes, before its announced ${size}.`);
      if (!err) {
        arrived.set(pos, { buf: data.subarray(0, nb), mem: into });
        if (nb < len) request(pos + nb, len - nb); // short read: ask for the rest
      } else pool.push(into);
      gate.end(err ?? undefined);
    });
  };
  const refill = () => {
    // Arrived buffers hold their slot until written out: memory stays near depth × chunk.
    const free = () => depth - arrived.size - gate.pending - writing;
    if (next < size && free() > 0) s.batch(); // one writev for the burst of requests
    while (next < size && free() > 0) {
      const len = Math.min(chunk, size - next);
      request(next, len);
      next += len;
    }
  };
  try {
    for (let pos = start; pos < size; ) {
      refill();
      while (!arrived.has(pos)) await gate.change();
      // One local write (a writev, no copy) per run of contiguous answers: a write per request caps the rate.
      const run: Buffer[] = [];
      const mems: Buffer[] = [];
      let bytes = 0;
      for (let p = pos, a = arrived.get(p); a && run.length < MAX_IOV; p += a.buf.length, a = arrived.get(p)) {
        run.push(a.buf);
        mems.push(a.mem);
        bytes += a.buf.length;
        arrived.delete(p);
      }
      writing = mems.length;
      refill();
      await writevFully(local, pos, run, bytes);
      for (let p = pos, i = 0; i < run.length; p += run[i].length, i++) await hash.feed(p, run[i]);
      pos += bytes;
      scavenger.moved(bytes);
      pool.push(...mems);
      writing = 0;
      ctx.done = pos;
      opts.progress?.update(pos);
    }
  } finally {
    gate.dispose();
  }
}

/**
 * Keeps a channel's receive window at `size` bytes. ssh2 grants 2 MiB per channel and tops it up
 * only once half is used, so a channel moved 1–2 MiB per round trip (what capped downloads on a
 * long link, as it caps OpenSSH's sftp); a download's requests bound what the server sends, so
 * the window may as well cover them all. Granted as the SSH protocol allows (WINDOW_ADJUST),
 * after each answer once a quarter is used: ssh2's own adjust (at half) then never comes. If
 * ssh2's channel does not have the fields this expects, ssh2's windows stay as they are.
 */
class ReceiveWindow {
  private readonly ch: { incoming?: { window?: number }; outgoing?: { id?: number; state?: string }; _protocol?: { channelWindowAdjust?: (id: number, n: number) => void } };
  private readonly size: number;

  constructor(sftp: SFTPWrapper, size: number) {
    this.ch = sftp as never;
    this.size = size;
    this.topUp(0);
  }

  topUp(step = this.size / 4): void {
    const { incoming, outgoing, _protocol: proto } = this.ch;
    if (typeof incoming?.window !== 'number' || typeof outgoing?.id !== 'number' || outgoing.state !== 'open' || typeof proto?.channelWindowAdjust !== 'function') return;
    const more = this.size - incoming.window;
    if (more <= step || more <= 0) return;
    incoming.window = this.size;
    proto.channelWindowAdjust(outgoing.id, more);
  }
}

// --- shared pieces ------------------------------------------------------------------

/**
 * The shortest of a few round trips (an fstat each): one answer can be late because the machine
 * is busy, not because the link is long, and a busy loopback must not get a long link's channels.
 * Only asked again when the first one looked long.
 */
async function shortestRoundTrip(s: Session, handle: Buffer, firstMs: number): Promise<number> {
  let best = firstMs;
  for (let i = 0; i < 2 && best >= LONG_LINK_MS; i++) {
    const t0 = performance.now();
    await s.call<Stats>((cb) => s.sftp.fstat(handle, cb));
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** Channels whose windows, one per round trip, allow WINDOWED_RATE (1 on a short link). */
export function channelsFor(roundTripMs: number, window: number): number {
  if (roundTripMs < LONG_LINK_MS || !(window > 0)) return 1;
  return Math.max(1, Math.min(MAX_CHANNELS, Math.ceil(((roundTripMs / 1000) * WINDOWED_RATE) / window)));
}

/** Bounds the requests in flight and turns the first failure or a stall into an error. */
class Gate {
  pending = 0;
  private failure: unknown;
  private waiter: (() => void) | undefined;
  private lastProgress = Date.now();
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;

  constructor(session: Session, stallMs = 60_000) {
    this.unsubscribe = session.onBroken((err) => this.fail(err));
    this.timer = setInterval(() => {
      if (this.pending > 0 && Date.now() - this.lastProgress > stallMs) {
        const err = Object.assign(new Error(`No SFTP answer for ${stallMs >= 1000 ? `${Math.round(stallMs / 1000)} s` : `${stallMs} ms`}`), { code: 'ETIMEDOUT' });
        this.fail(err);
        session.destroy();
      }
    }, Math.min(stallMs, 5000));
    this.timer.unref();
  }

  begin(): void {
    this.pending++;
  }

  end(err?: Error): void {
    this.pending--;
    this.lastProgress = Date.now();
    if (err) this.fail(err);
    this.wake();
  }

  async slot(depth: number): Promise<void> {
    this.check();
    while (this.pending >= depth) {
      await this.change();
    }
  }

  async change(): Promise<void> {
    this.check();
    await new Promise<void>((resolve) => (this.waiter = resolve));
    this.check();
  }

  dispose(): void {
    clearInterval(this.timer);
    this.unsubscribe();
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private fail(err: unknown): void {
    if (this.failure === undefined) this.failure = err;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

// Before trusting a partial file, compare its last bytes with ours: a leftover from another
// dump must not be extended.
async function samePrefixEnd(s: Session, handle: Buffer, local: FileHandle, end: number): Promise<boolean> {
  const len = Math.min(CHECK_BYTES, end);
  const mine = await readFully(local, end - len, len);
  const theirs = Buffer.alloc(len);
  let got = 0;
  try {
    while (got < len) {
      const n = await s.call<number>((cb) => s.sftp.read(handle, theirs, got, len - got, end - len + got, (err, nb) => cb(err, nb)));
      if (!n) break;
      got += n;
    }
  } catch (err) {
    if (statusOf(err) === STATUS_CODE.PERMISSION_DENIED) return true; // unreadable: trust the size
    throw err;
  }
  return got === len && mine.equals(theirs);
}

async function readFully(fh: FileHandle, pos: number, len: number, into?: Buffer): Promise<Buffer> {
  const buf = into && into.length >= len ? into.subarray(0, len) : Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) throw new SftpTransferError(`The local file ended at ${pos + got} bytes while it was being sent (changed meanwhile?).`);
    got += bytesRead;
  }
  return buf;
}

/**
 * SHA-256 of a local file's prefix, fed with the blocks a transfer reads or writes in order.
 * Blocks behind the hashed prefix (a resume that goes back) are skipped; a gap (a resume past
 * bytes this call never saw) is read from the file. In-line rather than on a thread: with
 * SHA-NI it costs little next to SSH's own cipher work (docs/benchmarks.md has the numbers).
 */
class PrefixHash {
  private hash: Hash = createHash('sha256');
  private upTo = 0;
  private readonly fh: FileHandle;

  constructor(fh: FileHandle) {
    this.fh = fh;
  }

  restart(): void {
    this.hash = createHash('sha256');
    this.upTo = 0;
  }

  async feed(pos: number, buf: Buffer): Promise<void> {
    if (pos > this.upTo) await this.catchUp(pos);
    const from = this.upTo - pos;
    if (from < 0 || from >= buf.length) return;
    this.hash.update(from ? buf.subarray(from) : buf);
    this.upTo = pos + buf.length;
  }

  async digest(size: number): Promise<string> {
    await this.catchUp(size);
    if (this.upTo !== size) throw new SftpTransferError(`Hashed ${this.upTo} bytes of the local file, expected ${size}.`);
    return this.hash.digest('hex');
  }

  private async catchUp(to: number): Promise<void> {
    const buf = Buffer.allocUnsafe(Math.min(READ_BLOCK, Math.max(0, to - this.upTo)));
    while (this.upTo < to) {
      const n = Math.min(buf.length, to - this.upTo);
      this.hash.update(await readFully(this.fh, this.upTo, n, buf));
      this.upTo += n;
    }
  }
}

async function writevFully(fh: FileHandle, pos: number, bufs: Buffer[], bytes: number): Promise<void> {
  const done = bufs.length === 1 ? 0 : (await fh.writev(bufs, pos)).bytesWritten;
  if (done === bytes) return;
  // A short writev (rare: a full disk, a signal): the rest one buffer at a time.
  for (let p = pos, i = 0; i < bufs.length; p += bufs[i].length, i++) {
    const end = p + bufs[i].length;
    if (end <= pos + done) continue;
    await writeFully(fh, Math.max(p, pos + done), bufs[i].subarray(Math.max(0, pos + done - p)));
  }
}

async function writeFully(fh: FileHandle, pos: number, buf: Buffer): Promise<void> {
  let done = 0;
  while (done < buf.length) done += (await fh.write(buf, done, buf.length - done, pos + done)).bytesWritten;
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

// --- connection ---------------------------------------------------------------------

/**
 * Two per-packet costs of ssh2 without its native addon (which the bundle cannot carry), both
 * from CPU profiles of uploads in bench/:
 * - it makes a new AES-GCM cipher per packet from a raw key Buffer, and Node 24 spends ~30 µs
 *   per call deciding that a Buffer is not a KeyObject (two thrown brand checks): a third of the
 *   upload's CPU. The same key as a KeyObject skips that.
 * - it draws each packet's 4–19 bytes of random padding with a randomFillSync call of its own
 *   (~5% of the CPU): the same CSPRNG, drawn 64 KiB at a time, serves them.
 * Both reach into ssh2's cipher state after each key exchange, only where the fields they
 * expect are found; otherwise ssh2 runs as it is, only slower.
 */
function fastCiphers(client: Client): void {
  const proto = (client as unknown as { _protocol?: { _cipher?: Record<string, unknown>; _decipher?: Record<string, unknown> } })._protocol;
  for (const state of [proto?._cipher, proto?._decipher]) {
    for (const field of ['_encKey', '_decipherKey', '_macKey']) {
      const key = state?.[field];
      if (Buffer.isBuffer(key) && key.length) state![field] = createSecretKey(key);
    }
  }
  const out = proto?._cipher;
  if (out && typeof out.allocPacket === 'function' && /-gcm$/.test(String(out._encSSLName))) out.allocPacket = gcmPacket();
}

/** An SSH packet with room for `payloadLen` bytes, laid out for AES-GCM (RFC 5647): the length is not encrypted, padding fills to 16 bytes. */
function gcmPacket(): (payloadLen: number) => Buffer {
  let random = Buffer.alloc(0);
  let used = 0;
  return (payloadLen: number) => {
    let padLen = 16 - ((1 + payloadLen) & 15);
    if (padLen < 4) padLen += 16;
    const packet = Buffer.allocUnsafe(4 + 1 + payloadLen + padLen);
    packet.writeUInt32BE(packet.length - 4, 0);
    packet[4] = padLen;
    if (used + padLen > random.length) {
      random = randomBytes(64 * 1024);
      used = 0;
    }
    random.copy(packet, 5 + payloadLen, used, used + padLen);
    used += padLen;
    return packet;
  };
}

interface Session {
  sftp: SFTPWrapper;
  /** The channel window the server granted at open: what may be in flight towards it. */
  serverWindow: number;
  /** The largest channel data the server takes in one SSH packet (OpenSSH: 32 KiB). */
  packetSize: number;
  /** The largest channel data ssh2 takes in one SSH packet (32 KiB). */
  clientPacketSize: number;
  /** Runs a callback-style call; rejects as soon as the connection breaks. */
  call<T = void>(fn: (cb: (err?: Error | null, value?: T) => void) => void): Promise<T>;
  onBroken(fn: (err: unknown) => void): () => void;
  destroy(): void;
  /** Opens up to `n` more SFTP channels on the same connection (fewer if the server refuses). */
  moreChannels(n: number): Promise<SFTPWrapper[]>;
  /** Holds this tick's socket writes back and sends them as one writev on the next tick. */
  batch(): void;
}

async function withReconnects<T>(what: string, target: SftpTarget, opts: SftpOptions, ctx: Context, attempt: (s: Session) => Promise<T>): Promise<T> {
  const retries = opts.retries ?? 5;
  for (;;) {
    const before = ctx.done;
    try {
      return await withRetry(
        async () => {
          const { session, client } = await connect(target, opts, ctx);
          try {
            return await attempt(session);
          } finally {
            client.end();
            client.destroy();
          }
        },
        {
          attempts: retries + 1,
          baseMs: opts.retryBaseMs ?? 1000,
          maxMs: 30_000,
          signal: opts.signal,
          retryable: (err) => isRetryable(err, opts.signal),
          onRetry: (err, n, delay) =>
            opts.log(`SFTP ${what} interrupted (${describe(err)}); reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${n + 1} of ${retries + 1}).`),
        },
      );
    } catch (err) {
      // A round that moved data earns a fresh budget: long transfers over flaky links finish.
      if (retries === 0 || ctx.done <= before || !isRetryable(err, opts.signal)) throw abortReason(opts.signal) ?? err;
      opts.log(`SFTP ${what} interrupted again (${describe(err)}) after progress; starting a new round of retries.`);
    }
  }
}

function connect(target: SftpTarget, opts: SftpOptions, ctx: Context): Promise<{ session: Session; client: Client }> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    const where = `${target.host}:${target.port}`;
    const listeners = new Set<(err: unknown) => void>();
    let broken: unknown;
    let mismatch: HostKeyMismatchError | undefined;
    let ready = false;
    let corked = false;
    const breakWith = (err: unknown) => {
      if (broken !== undefined) return;
      broken = abortReason(opts.signal) ?? mismatch ?? err;
      for (const l of listeners) l(broken);
      if (!ready) reject(broken);
      signalCleanup();
    };
    const onAbort = () => {
      breakWith(abortReason(opts.signal));
      client.destroy();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const signalCleanup = () => opts.signal?.removeEventListener('abort', onAbort);
    if (opts.signal?.aborted) return onAbort();

    client.on('handshake', () => fastCiphers(client));
    client.on('error', (err) => breakWith(err));
    client.on('close', () => breakWith(Object.assign(new Error('SFTP connection closed'), { code: 'ECONNRESET' })));
    // One SFTP channel; any channel failing breaks the session (its requests would never end).
    const openChannel = () =>
      new Promise<SFTPWrapper>((res, rej) =>
        client.sftp((err, sftp) => {
          if (err) return rej(err);
          sftp.on('error', (e: Error) => breakWith(e));
          sftp.on('close', () => breakWith(Object.assign(new Error('SFTP channel closed'), { code: 'ECONNRESET' })));
          res(sftp);
        }),
      );
    client.on('ready', () => {
      openChannel().then((sftp) => {
        ready = true;
        const session: Session = {
          sftp,
          serverWindow: (sftp as unknown as { outgoing?: { window?: number } }).outgoing?.window ?? 0,
          packetSize: (sftp as unknown as { outgoing?: { packetSize?: number } }).outgoing?.packetSize || 32 * 1024,
          clientPacketSize: (sftp as unknown as { incoming?: { packetSize?: number } }).incoming?.packetSize || 32 * 1024,
          call<T>(fn: (cb: (err?: Error | null, value?: T) => void) => void) {
            return new Promise<T>((res, rej) => {
              if (broken !== undefined) return rej(broken);
              const off = session.onBroken(rej);
              fn((e, v) => {
                off();
                if (e) rej(e);
                else res(v as T);
              });
            });
          },
          onBroken(fn) {
            if (broken !== undefined) {
              queueMicrotask(() => fn(broken));
              return () => {};
            }
            listeners.add(fn);
            return () => listeners.delete(fn);
          },
          destroy: () => client.destroy(),
          async moreChannels(n) {
            // All at once (one round trip, not one each: a long link is where they are asked for).
            // A server may cap sessions per connection (OpenSSH: MaxSessions): use what it grants.
            const opened = await Promise.all(Array.from({ length: Math.max(0, n) }, () => openChannel().catch(() => undefined)));
            return opened.filter((c): c is SFTPWrapper => c !== undefined);
          },
          batch() {
            if (corked || sock.destroyed) return;
            corked = true;
            sock.cork();
            process.nextTick(() => {
              corked = false;
              sock.uncork();
            });
          },
        };
        resolve({ session, client });
      }, breakWith);
    });
    // Our own socket, so that a burst of writes can be corked into one writev.
    const sock = net.connect({ host: target.host, port: target.port });
    sock.setNoDelay(true); // small requests must not wait for Nagle
    const config = {
      sock,
      host: target.host,
      port: target.port,
      username: target.username,
      privateKey: target.privateKey,
      readyTimeout: 20_000,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        const fp = sha256Fingerprint(key);
        if (ctx.pinned && normalizeFingerprint(ctx.pinned) !== normalizeFingerprint(fp)) {
          mismatch = new HostKeyMismatchError(where, ctx.pinned, fp);
          return false;
        }
        if (!ctx.keyLogged) {
          ctx.keyLogged = true;
          opts.log(`SSH host key of ${where}: ${keyType(key)} ${fp}${opts.expectedHostKey ? ' (matches the expected key)' : ''}`);
        }
        ctx.pinned = fp;
        return true;
      },
    };
    try {
      client.connect(config);
    } catch (err) {
      sock.destroy();
      breakWith(err); // e.g. a key ssh2 cannot use: thrown before any I/O
    }
  });
}

function isRetryable(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return false;
  if (err instanceof HostKeyMismatchError || err instanceof SftpTransferError) return false;
  const e = err as { level?: string; code?: unknown; message?: string };
  if (e?.level === 'client-authentication' || e?.level === 'handshake') return false;
  if (e?.level === 'client-socket' || e?.level === 'client-timeout' || e?.level === 'protocol') return true;
  if (e?.code === STATUS_CODE.NO_CONNECTION || e?.code === STATUS_CODE.CONNECTION_LOST) return true;
  if (typeof e?.code === 'number') return false; // other SFTP statuses: permission, no such file, ...
  if (/No response from server|Keepalive timeout|connection closed|channel closed|Connection lost/i.test(e?.message ?? '')) return true;
  return isTransientNetworkError(err);
}

function abortReason(signal?: AbortSignal): unknown {
  if (!signal?.aborted) return undefined;
  return signal.reason ?? Object.assign(new Error('The transfer was aborted'), { name: 'AbortError' });
}

function describe(err: unknown): string {
  const e = err as { message?: string; code?: unknown };
  return [e?.message ?? String(err), typeof e?.code === 'string' ? e.code : ''].filter(Boolean).join(' ');
}

function normalizeFingerprint(fp: string): string {
  return `SHA256:${fp.trim().replace(/^SHA256:/i, '').replace(/=+$/, '')}`;
}

function keyType(blob: Buffer): string {
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const name = blob.subarray(4, 4 + len).toString('latin1');
  return name.replace(/^ssh-/, '').toUpperCase();
}
