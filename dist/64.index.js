export const id = 64;
export const ids = [64];
export const modules = {

/***/ 5064:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  downloadViaSftp: () => (/* binding */ downloadViaSftp),
  hasSftpAccess: () => (/* binding */ hasSftpAccess),
  uploadViaSftp: () => (/* binding */ uploadViaSftp)
});

// UNUSED EXPORTS: parseAccess

// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(51455);
// EXTERNAL MODULE: ./src/transfer/ssh-keys.ts
var ssh_keys = __webpack_require__(83590);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(77598);
// EXTERNAL MODULE: external "node:net"
var external_node_net_ = __webpack_require__(77030);
var external_node_net_default = /*#__PURE__*/__webpack_require__.n(external_node_net_);
// EXTERNAL MODULE: ./node_modules/ssh2/lib/index.js
var lib = __webpack_require__(85472);
var lib_default = /*#__PURE__*/__webpack_require__.n(lib);
// EXTERNAL MODULE: ./src/net/retry.ts
var retry = __webpack_require__(37893);
// EXTERNAL MODULE: ./src/transfer/progress.ts
var progress = __webpack_require__(50484);
// EXTERNAL MODULE: ./src/net/dispatch.ts
var dispatch = __webpack_require__(57497);
// EXTERNAL MODULE: ./src/transfer/scavenge.ts + 2 modules
var scavenge = __webpack_require__(23892);
;// CONCATENATED MODULE: ./src/transfer/sftp.ts
// SFTP upload/download over ssh2 with many requests in flight (one request at a time is
// latency-bound: a few MiB/s over the Atlantic), resumed from the size already on the far
// side after a cut, with the server's host key pinned across reconnects.









class HostKeyMismatchError extends Error {
    constructor(host, expected, got) {
        super(`The SSH host key of ${host} changed: expected ${expected}, got ${got}. Refusing to connect (possible interception).`);
        this.name = 'HostKeyMismatchError';
    }
}
class SftpTransferError extends Error {
    constructor(message) {
        super(message);
        this.name = 'SftpTransferError';
    }
}
const { OPEN_MODE, STATUS_CODE } = (lib_default()).utils.sftp;
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
async function sftpUpload(localPath, target, opts) {
    (0,dispatch/* noteSshIgnoresProxy */.eO)(opts.log);
    const local = await (0,promises_.open)(localPath, 'r');
    const ctx = newContext(opts);
    try {
        const size = (await local.stat()).size;
        const hash = new PrefixHash(local);
        await withReconnects('upload', target, opts, ctx, (s) => uploadOnce(s, local, size, target.remotePath, hash, ctx, opts));
        return { bytes: size, hostKeyFingerprint: ctx.pinned, resumedFrom: ctx.resumedFrom, sha256: await hash.digest(size) };
    }
    finally {
        opts.progress?.finish();
        await local.close();
    }
}
async function sftpDownload(target, localPath, opts) {
    (0,dispatch/* noteSshIgnoresProxy */.eO)(opts.log);
    const local = await (0,promises_.open)(localPath, 'a+').then((fh) => fh.close()).then(() => (0,promises_.open)(localPath, 'r+'));
    const ctx = newContext(opts);
    // Hashed as written; a local file that is started over gets a new hash.
    const hash = new PrefixHash(local);
    try {
        const size = await withReconnects('download', target, opts, ctx, (s) => downloadOnce(s, local, target.remotePath, hash, ctx, opts));
        return { bytes: size, hostKeyFingerprint: ctx.pinned, resumedFrom: ctx.resumedFrom, sha256: await hash.digest(size) };
    }
    finally {
        opts.progress?.finish();
        await local.close();
    }
}
/** The end of the longest run of acknowledged writes from `start`: where a resume may go on. */
class AckedPrefix {
    prefix;
    ahead = new Map(); // offset → length, acknowledged past a gap
    constructor(start) {
        this.prefix = start;
    }
    add(at, n) {
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
function newContext(opts) {
    return { pinned: opts.expectedHostKey ? normalizeFingerprint(opts.expectedHostKey) : undefined, resumedFrom: [], done: 0 };
}
// --- upload -------------------------------------------------------------------------
async function uploadOnce(s, local, size, remotePath, hash, ctx, opts) {
    const channels = Math.max(1, opts.channels ?? MAX_CHANNELS); // the most this upload may use
    // No TRUNC: what an earlier attempt wrote is kept and appended to.
    let readable = true;
    let handle = await s.call((cb) => s.sftp.open(remotePath, OPEN_MODE.READ | OPEN_MODE.WRITE | OPEN_MODE.CREAT, cb)).catch((err) => {
        if (statusOf(err) !== STATUS_CODE.PERMISSION_DENIED)
            throw err;
        readable = false; // a write-only drop box: resume without checking what is there
        return s.call((cb) => s.sftp.open(remotePath, OPEN_MODE.WRITE | OPEN_MODE.CREAT, cb));
    });
    // Each WRITE in one SSH packet: 32 KiB of data plus the header would take two (the second a
    // few dozen bytes, at the full per-packet cost), since sshd's channels take 32 KiB packets.
    const chunk = opts.chunkSize ?? Math.max(1024, Math.min(DEFAULT_CHUNK, s.packetSize - WRITE_HEADER - handle.length));
    const depth = opts.concurrency ?? Math.min(MAX_UPLOAD_DEPTH, Math.max(UPLOAD_DEPTH, Math.ceil(s.serverWindow / (chunk + WRITE_HEADER + handle.length))));
    const lanes = [];
    try {
        const asked = performance.now();
        const remoteSize = await s.call((cb) => s.sftp.fstat(handle, cb)).then((st) => st.size, (err) => {
            if (statusOf(err) === undefined)
                throw err; // the connection, not the file
            return undefined; // unknown size: start over
        });
        // Requests run out of order (across channels, and on some servers within one), so the remote
        // size can hide holes. Within this call every acknowledged write is known: go on from the
        // end of the acknowledged prefix. A file from an earlier run: rewrite what could have been
        // in flight, which costs little.
        const known = ctx.acked?.prefix;
        let start = remoteSize === undefined || remoteSize > size ? 0
            : known !== undefined ? Math.min(known, remoteSize)
                : Math.max(0, remoteSize - channels * depth * chunk);
        start -= start % chunk;
        if (start > 0 && readable && !(await samePrefixEnd(s, handle, local, start))) {
            opts.log(`The remote ${remotePath} does not hold the start of this file; uploading it again from the beginning.`);
            start = 0;
        }
        // A shorter or equal remote file is overwritten in full below; a longer one must shrink.
        if (start === 0 && (remoteSize === undefined || remoteSize > size))
            handle = await truncate(s, handle, remotePath);
        if (start > 0) {
            ctx.resumedFrom.push(start);
            opts.log(`Resuming the upload at ${(0,progress/* formatBytes */.z3)(start)} of ${(0,progress/* formatBytes */.z3)(size)}.`);
        }
        ctx.done = start;
        ctx.acked = new AckedPrefix(start);
        opts.progress?.update(start);
        lanes.push({ sftp: s.sftp, handle });
        const roundTripMs = await shortestRoundTrip(s, handle, performance.now() - asked);
        const wanted = opts.channels ?? channelsFor(roundTripMs, s.serverWindow);
        const more = await s.moreChannels(wanted - 1);
        const handles = await Promise.all(more.map((sftp) => s.call((cb) => sftp.open(remotePath, OPEN_MODE.WRITE, cb)).catch(() => undefined)));
        more.forEach((sftp, i) => handles[i] && lanes.push({ sftp, handle: handles[i] }));
        if (wanted > 1)
            opts.log(`SFTP: writing over ${lanes.length} channels (a round trip took ${roundTripMs.toFixed(0)} ms).`);
        await pipelinedWrite(s, lanes, local, start, size, chunk, depth, hash, ctx, opts);
        const finalSize = (await s.call((cb) => s.sftp.fstat(handle, cb))).size;
        if (finalSize !== size)
            throw new SftpTransferError(`After the upload the remote file holds ${finalSize} bytes, expected ${size}.`);
    }
    finally {
        for (const lane of lanes.slice(1))
            await s.call((cb) => lane.sftp.close(lane.handle, cb)).catch(() => { });
        await s.call((cb) => s.sftp.close(handle, cb)).catch(() => { });
    }
}
async function truncate(s, handle, remotePath) {
    try {
        await s.call((cb) => s.sftp.fsetstat(handle, { size: 0 }, cb));
        return handle;
    }
    catch {
        await s.call((cb) => s.sftp.close(handle, cb)).catch(() => { });
        return s.call((cb) => s.sftp.open(remotePath, OPEN_MODE.WRITE | OPEN_MODE.CREAT | OPEN_MODE.TRUNC, cb));
    }
}
async function pipelinedWrite(s, lanes, local, start, size, chunk, depth, hash, ctx, opts) {
    const gate = new Gate(s, opts.stallTimeoutMs);
    const scavenger = new scavenge/* Scavenger */.r();
    let next = 0;
    try {
        const block = Math.max(chunk, READ_BLOCK - (READ_BLOCK % chunk));
        // Read blocks go back to a pool once every write from them is answered (ssh2 may hold on
        // to a block for a write it splits): a few megabytes reused instead of a fresh one per MiB
        // for the garbage collector, which otherwise runs on external memory growth.
        const pool = [];
        for (let pos = start; pos < size;) {
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
                lane.sftp.write(lane.handle, buf, off, n, at, (err) => {
                    if (!err) {
                        scavenger.moved(n);
                        ctx.done += n;
                        ctx.acked?.add(at, n);
                        opts.progress?.update(ctx.done);
                    }
                    if (--unanswered === 0)
                        pool.push(mem);
                    gate.end(err ?? undefined);
                });
            }
            pos += buf.length;
        }
        await gate.slot(1);
    }
    finally {
        gate.dispose();
    }
}
// --- download -----------------------------------------------------------------------
async function downloadOnce(s, local, remotePath, hash, ctx, opts) {
    // Each answer in one SSH packet: ssh2 takes packets of 32 KiB, so a 32 KiB read came back as
    // two (the second 13 bytes, at the full per-packet cost of a decipher and a buffer).
    const chunk = opts.chunkSize ?? Math.max(1024, Math.min(DEFAULT_CHUNK, s.clientPacketSize - DATA_HEADER));
    const handle = await s.call((cb) => s.sftp.open(remotePath, OPEN_MODE.READ, cb));
    const lanes = [{ sftp: s.sftp, handle }];
    try {
        const asked = performance.now();
        const size = (await s.call((cb) => s.sftp.fstat(handle, cb))).size;
        const roundTripMs = await shortestRoundTrip(s, handle, performance.now() - asked);
        let start = (await local.stat()).size; // written in order: the local file is a clean prefix
        if (start > size || (start > 0 && !(await samePrefixEnd(s, handle, local, start)))) {
            if (start > 0)
                opts.log(`The local ${start}-byte partial file does not match the remote one; downloading again from the beginning.`);
            await local.truncate(0);
            hash.restart();
            start = 0;
        }
        if (start > 0) {
            ctx.resumedFrom.push(start);
            opts.log(`Resuming the download at ${(0,progress/* formatBytes */.z3)(start)} of ${(0,progress/* formatBytes */.z3)(size)}.`);
        }
        ctx.done = start;
        opts.progress?.update(start);
        // Enough requests in flight for WINDOWED_RATE over this round trip (the receive windows are
        // widened to match, see ReceiveWindow), at least DOWNLOAD_DEPTH: answers also wait to be
        // written locally.
        const depth = opts.concurrency ?? Math.min(MAX_DOWNLOAD_DEPTH, Math.max(DOWNLOAD_DEPTH, Math.ceil(((roundTripMs / 1000) * WINDOWED_RATE) / chunk)));
        const wanted = opts.channels ?? channelsFor(roundTripMs, depth * (chunk + DATA_HEADER));
        const more = await s.moreChannels(wanted - 1);
        const handles = await Promise.all(more.map((sftp) => s.call((cb) => sftp.open(remotePath, OPEN_MODE.READ, cb)).catch(() => undefined)));
        more.forEach((sftp, i) => handles[i] && lanes.push({ sftp, handle: handles[i] }));
        if (wanted > 1 || roundTripMs >= LONG_LINK_MS)
            opts.log(`SFTP: reading over ${lanes.length} channel${lanes.length > 1 ? 's' : ''}, ${depth} requests in flight (a round trip took ${roundTripMs.toFixed(0)} ms).`);
        await pipelinedRead(s, lanes, local, start, size, chunk, depth, hash, ctx, opts);
        const got = (await local.stat()).size;
        if (got !== size)
            throw new SftpTransferError(`After the download the local file holds ${got} bytes, expected ${size}.`);
        return size;
    }
    finally {
        for (const lane of lanes.slice(1))
            await s.call((cb) => lane.sftp.close(lane.handle, cb)).catch(() => { });
        await s.call((cb) => s.sftp.close(handle, cb)).catch(() => { });
    }
}
async function pipelinedRead(s, lanes, local, start, size, chunk, depth, hash, ctx, opts) {
    const gate = new Gate(s, opts.stallTimeoutMs);
    const arrived = new Map(); // answers may come back out of order
    const scavenger = new scavenge/* Scavenger */.r();
    let next = start;
    let turn = 0;
    // ssh2 copies each answer into the buffer a read was given: buffers come back to this pool
    // once written out, so a download allocates depth × chunk once instead of a buffer per request
    // (garbage that V8 frees late: peak RSS).
    const pool = [];
    let writing = 0; // buffers of the run being written out: they hold their slots too
    // Each lane may have its share of the requests answered at once.
    const windows = lanes.map((l) => new ReceiveWindow(l.sftp, Math.ceil(depth / lanes.length) * (chunk + DATA_HEADER)));
    const request = (pos, len) => {
        gate.begin();
        const i = turn++ % lanes.length;
        const lane = lanes[i];
        const into = pool.pop() ?? Buffer.allocUnsafe(chunk);
        lane.sftp.read(lane.handle, into, 0, len, pos, (err, nb, data) => {
            windows[i].topUp();
            if (!err && nb === 0)
                err = new SftpTransferError(`The remote file ended at ${pos} bytes, before its announced ${size}.`);
            if (!err) {
                arrived.set(pos, { buf: data.subarray(0, nb), mem: into });
                if (nb < len)
                    request(pos + nb, len - nb); // short read: ask for the rest
            }
            else
                pool.push(into);
            gate.end(err ?? undefined);
        });
    };
    const refill = () => {
        // Arrived buffers hold their slot until written out: memory stays near depth × chunk.
        const free = () => depth - arrived.size - gate.pending - writing;
        if (next < size && free() > 0)
            s.batch(); // one writev for the burst of requests
        while (next < size && free() > 0) {
            const len = Math.min(chunk, size - next);
            request(next, len);
            next += len;
        }
    };
    try {
        for (let pos = start; pos < size;) {
            refill();
            while (!arrived.has(pos))
                await gate.change();
            // One local write (a writev, no copy) per run of contiguous answers: a write per request caps the rate.
            const run = [];
            const mems = [];
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
            for (let p = pos, i = 0; i < run.length; p += run[i].length, i++)
                await hash.feed(p, run[i]);
            pos += bytes;
            scavenger.moved(bytes);
            pool.push(...mems);
            writing = 0;
            ctx.done = pos;
            opts.progress?.update(pos);
        }
    }
    finally {
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
    ch;
    size;
    constructor(sftp, size) {
        this.ch = sftp;
        this.size = size;
        this.topUp(0);
    }
    topUp(step = this.size / 4) {
        const { incoming, outgoing, _protocol: proto } = this.ch;
        if (typeof incoming?.window !== 'number' || typeof outgoing?.id !== 'number' || outgoing.state !== 'open' || typeof proto?.channelWindowAdjust !== 'function')
            return;
        const more = this.size - incoming.window;
        if (more <= step || more <= 0)
            return;
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
async function shortestRoundTrip(s, handle, firstMs) {
    let best = firstMs;
    for (let i = 0; i < 2 && best >= LONG_LINK_MS; i++) {
        const t0 = performance.now();
        await s.call((cb) => s.sftp.fstat(handle, cb));
        best = Math.min(best, performance.now() - t0);
    }
    return best;
}
/** Channels whose windows, one per round trip, allow WINDOWED_RATE (1 on a short link). */
function channelsFor(roundTripMs, window) {
    if (roundTripMs < LONG_LINK_MS || !(window > 0))
        return 1;
    return Math.max(1, Math.min(MAX_CHANNELS, Math.ceil(((roundTripMs / 1000) * WINDOWED_RATE) / window)));
}
/** Bounds the requests in flight and turns the first failure or a stall into an error. */
class Gate {
    pending = 0;
    failure;
    waiter;
    lastProgress = Date.now();
    timer;
    unsubscribe;
    constructor(session, stallMs = 60_000) {
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
    begin() {
        this.pending++;
    }
    end(err) {
        this.pending--;
        this.lastProgress = Date.now();
        if (err)
            this.fail(err);
        this.wake();
    }
    async slot(depth) {
        this.check();
        while (this.pending >= depth) {
            await this.change();
        }
    }
    async change() {
        this.check();
        await new Promise((resolve) => (this.waiter = resolve));
        this.check();
    }
    dispose() {
        clearInterval(this.timer);
        this.unsubscribe();
    }
    check() {
        if (this.failure !== undefined)
            throw this.failure;
    }
    fail(err) {
        if (this.failure === undefined)
            this.failure = err;
        this.wake();
    }
    wake() {
        const w = this.waiter;
        this.waiter = undefined;
        w?.();
    }
}
// Before trusting a partial file, compare its last bytes with ours: a leftover from another
// dump must not be extended.
async function samePrefixEnd(s, handle, local, end) {
    const len = Math.min(CHECK_BYTES, end);
    const mine = await readFully(local, end - len, len);
    const theirs = Buffer.alloc(len);
    let got = 0;
    try {
        while (got < len) {
            const n = await s.call((cb) => s.sftp.read(handle, theirs, got, len - got, end - len + got, (err, nb) => cb(err, nb)));
            if (!n)
                break;
            got += n;
        }
    }
    catch (err) {
        if (statusOf(err) === STATUS_CODE.PERMISSION_DENIED)
            return true; // unreadable: trust the size
        throw err;
    }
    return got === len && mine.equals(theirs);
}
async function readFully(fh, pos, len, into) {
    const buf = into && into.length >= len ? into.subarray(0, len) : Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
        const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
        if (bytesRead === 0)
            throw new SftpTransferError(`The local file ended at ${pos + got} bytes while it was being sent (changed meanwhile?).`);
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
    hash = (0,external_node_crypto_.createHash)('sha256');
    upTo = 0;
    fh;
    constructor(fh) {
        this.fh = fh;
    }
    restart() {
        this.hash = (0,external_node_crypto_.createHash)('sha256');
        this.upTo = 0;
    }
    async feed(pos, buf) {
        if (pos > this.upTo)
            await this.catchUp(pos);
        const from = this.upTo - pos;
        if (from < 0 || from >= buf.length)
            return;
        this.hash.update(from ? buf.subarray(from) : buf);
        this.upTo = pos + buf.length;
    }
    async digest(size) {
        await this.catchUp(size);
        if (this.upTo !== size)
            throw new SftpTransferError(`Hashed ${this.upTo} bytes of the local file, expected ${size}.`);
        return this.hash.digest('hex');
    }
    async catchUp(to) {
        const buf = Buffer.allocUnsafe(Math.min(READ_BLOCK, Math.max(0, to - this.upTo)));
        while (this.upTo < to) {
            const n = Math.min(buf.length, to - this.upTo);
            this.hash.update(await readFully(this.fh, this.upTo, n, buf));
            this.upTo += n;
        }
    }
}
async function writevFully(fh, pos, bufs, bytes) {
    const done = bufs.length === 1 ? 0 : (await fh.writev(bufs, pos)).bytesWritten;
    if (done === bytes)
        return;
    // A short writev (rare: a full disk, a signal): the rest one buffer at a time.
    for (let p = pos, i = 0; i < bufs.length; p += bufs[i].length, i++) {
        const end = p + bufs[i].length;
        if (end <= pos + done)
            continue;
        await writeFully(fh, Math.max(p, pos + done), bufs[i].subarray(Math.max(0, pos + done - p)));
    }
}
async function writeFully(fh, pos, buf) {
    let done = 0;
    while (done < buf.length)
        done += (await fh.write(buf, done, buf.length - done, pos + done)).bytesWritten;
}
function statusOf(err) {
    const code = err?.code;
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
function fastCiphers(client) {
    const proto = client._protocol;
    for (const state of [proto?._cipher, proto?._decipher]) {
        for (const field of ['_encKey', '_decipherKey', '_macKey']) {
            const key = state?.[field];
            if (Buffer.isBuffer(key) && key.length)
                state[field] = (0,external_node_crypto_.createSecretKey)(key);
        }
    }
    const out = proto?._cipher;
    if (out && typeof out.allocPacket === 'function' && /-gcm$/.test(String(out._encSSLName)))
        out.allocPacket = gcmPacket();
}
/** An SSH packet with room for `payloadLen` bytes, laid out for AES-GCM (RFC 5647): the length is not encrypted, padding fills to 16 bytes. */
function gcmPacket() {
    let random = Buffer.alloc(0);
    let used = 0;
    return (payloadLen) => {
        let padLen = 16 - ((1 + payloadLen) & 15);
        if (padLen < 4)
            padLen += 16;
        const packet = Buffer.allocUnsafe(4 + 1 + payloadLen + padLen);
        packet.writeUInt32BE(packet.length - 4, 0);
        packet[4] = padLen;
        if (used + padLen > random.length) {
            random = (0,external_node_crypto_.randomBytes)(64 * 1024);
            used = 0;
        }
        random.copy(packet, 5 + payloadLen, used, used + padLen);
        used += padLen;
        return packet;
    };
}
async function withReconnects(what, target, opts, ctx, attempt) {
    const retries = opts.retries ?? 5;
    for (;;) {
        const before = ctx.done;
        try {
            return await (0,retry/* withRetry */.bD)(async () => {
                const { session, client } = await connect(target, opts, ctx);
                try {
                    return await attempt(session);
                }
                finally {
                    client.end();
                    client.destroy();
                }
            }, {
                attempts: retries + 1,
                baseMs: opts.retryBaseMs ?? 1000,
                maxMs: 30_000,
                signal: opts.signal,
                retryable: (err) => isRetryable(err, opts.signal),
                onRetry: (err, n, delay) => opts.log(`SFTP ${what} interrupted (${describe(err)}); reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${n + 1} of ${retries + 1}).`),
            });
        }
        catch (err) {
            // A round that moved data earns a fresh budget: long transfers over flaky links finish.
            if (retries === 0 || ctx.done <= before || !isRetryable(err, opts.signal))
                throw abortReason(opts.signal) ?? err;
            opts.log(`SFTP ${what} interrupted again (${describe(err)}) after progress; starting a new round of retries.`);
        }
    }
}
function connect(target, opts, ctx) {
    return new Promise((resolve, reject) => {
        const client = new (lib_default()).Client();
        const where = `${target.host}:${target.port}`;
        const listeners = new Set();
        let broken;
        let mismatch;
        let ready = false;
        let corked = false;
        const breakWith = (err) => {
            if (broken !== undefined)
                return;
            broken = abortReason(opts.signal) ?? mismatch ?? err;
            for (const l of listeners)
                l(broken);
            if (!ready)
                reject(broken);
            signalCleanup();
        };
        const onAbort = () => {
            breakWith(abortReason(opts.signal));
            client.destroy();
        };
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        const signalCleanup = () => opts.signal?.removeEventListener('abort', onAbort);
        if (opts.signal?.aborted)
            return onAbort();
        client.on('handshake', () => fastCiphers(client));
        client.on('error', (err) => breakWith(err));
        client.on('close', () => breakWith(Object.assign(new Error('SFTP connection closed'), { code: 'ECONNRESET' })));
        // One SFTP channel; any channel failing breaks the session (its requests would never end).
        const openChannel = () => new Promise((res, rej) => client.sftp((err, sftp) => {
            if (err)
                return rej(err);
            sftp.on('error', (e) => breakWith(e));
            sftp.on('close', () => breakWith(Object.assign(new Error('SFTP channel closed'), { code: 'ECONNRESET' })));
            res(sftp);
        }));
        client.on('ready', () => {
            openChannel().then((sftp) => {
                ready = true;
                const session = {
                    sftp,
                    serverWindow: sftp.outgoing?.window ?? 0,
                    packetSize: sftp.outgoing?.packetSize || 32 * 1024,
                    clientPacketSize: sftp.incoming?.packetSize || 32 * 1024,
                    call(fn) {
                        return new Promise((res, rej) => {
                            if (broken !== undefined)
                                return rej(broken);
                            const off = session.onBroken(rej);
                            fn((e, v) => {
                                off();
                                if (e)
                                    rej(e);
                                else
                                    res(v);
                            });
                        });
                    },
                    onBroken(fn) {
                        if (broken !== undefined) {
                            queueMicrotask(() => fn(broken));
                            return () => { };
                        }
                        listeners.add(fn);
                        return () => listeners.delete(fn);
                    },
                    destroy: () => client.destroy(),
                    async moreChannels(n) {
                        // All at once (one round trip, not one each: a long link is where they are asked for).
                        // A server may cap sessions per connection (OpenSSH: MaxSessions): use what it grants.
                        const opened = await Promise.all(Array.from({ length: Math.max(0, n) }, () => openChannel().catch(() => undefined)));
                        return opened.filter((c) => c !== undefined);
                    },
                    batch() {
                        if (corked || sock.destroyed)
                            return;
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
        const sock = external_node_net_default().connect({ host: target.host, port: target.port });
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
            hostVerifier: (key) => {
                const fp = (0,ssh_keys/* sha256Fingerprint */._7)(key);
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
        }
        catch (err) {
            sock.destroy();
            breakWith(err); // e.g. a key ssh2 cannot use: thrown before any I/O
        }
    });
}
function isRetryable(err, signal) {
    if (signal?.aborted)
        return false;
    if (err instanceof HostKeyMismatchError || err instanceof SftpTransferError)
        return false;
    const e = err;
    if (e?.level === 'client-authentication' || e?.level === 'handshake')
        return false;
    if (e?.level === 'client-socket' || e?.level === 'client-timeout' || e?.level === 'protocol')
        return true;
    if (e?.code === STATUS_CODE.NO_CONNECTION || e?.code === STATUS_CODE.CONNECTION_LOST)
        return true;
    if (typeof e?.code === 'number')
        return false; // other SFTP statuses: permission, no such file, ...
    if (/No response from server|Keepalive timeout|connection closed|channel closed|Connection lost/i.test(e?.message ?? ''))
        return true;
    return (0,retry/* isTransientNetworkError */.l)(err);
}
function abortReason(signal) {
    if (!signal?.aborted)
        return undefined;
    return signal.reason ?? Object.assign(new Error('The transfer was aborted'), { name: 'AbortError' });
}
function describe(err) {
    const e = err;
    return [e?.message ?? String(err), typeof e?.code === 'string' ? e.code : ''].filter(Boolean).join(' ');
}
function normalizeFingerprint(fp) {
    return `SHA256:${fp.trim().replace(/^SHA256:/i, '').replace(/=+$/, '')}`;
}
function keyType(blob) {
    const len = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
    const name = blob.subarray(4, 4 + len).toString('latin1');
    return name.replace(/^ssh-/, '').toUpperCase();
}

// EXTERNAL MODULE: ./src/net/http.ts
var http = __webpack_require__(59663);
// EXTERNAL MODULE: ./src/platform/common.ts
var common = __webpack_require__(39026);
// EXTERNAL MODULE: ./src/platform/types.ts
var types = __webpack_require__(99674);
;// CONCATENATED MODULE: ./src/platform/v1-sftp.ts
// SFTP for v1 (request_sftp_access): big dumps go up with resume, and the upgraded dump
// can come down the same way. The key pair is the user's or an ephemeral one that never
// touches the disk; only its public half is sent.






const sessions = new WeakMap();
function session(v1, opts) {
    let s = sessions.get(v1);
    if (!s) {
        s = { pair: (0,ssh_keys/* loadOrCreateKeyPair */.BL)(opts.sshPrivateKey, opts.secrets) };
        sessions.set(v1, s);
    }
    return s;
}
/** The SFTP access answer; strings must be strings (an object is not a host name), the port an integer. */
function parseAccess(request) {
    const str = (v) => (typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '');
    const hostname = str(request.hostname);
    const port = typeof request.sftp_port === 'number' || typeof request.sftp_port === 'string' ? Number(request.sftp_port) : NaN;
    const user = str(request.sftp_user);
    const sharedFile = str(request.shared_file);
    if (!hostname || !Number.isInteger(port) || port <= 0 || port > 65535 || !user || !sharedFile) {
        throw new http/* BadAnswerError */.ac('request_sftp_access: the platform answered without hostname, sftp_port, sftp_user and shared_file');
    }
    if (!/^[A-Za-z0-9.-]{1,253}$|^\[?[0-9A-Fa-f:.]+\]?$/.test(hostname)) {
        throw new http/* BadAnswerError */.ac(`request_sftp_access: the platform gave a hostname that is not a host name ("${(0,common/* platformText */.VQ)(hostname, 80)}")`);
    }
    if (/[\x00-\x1f\s@:]/.test(user) || user.length > 100)
        throw new http/* BadAnswerError */.ac('request_sftp_access: the platform gave an unusable sftp_user');
    if (/[\\/\x00-\x1f]|^\.\.?$/.test(sharedFile)) {
        throw new http/* BadAnswerError */.ac(`request_sftp_access: refusing a shared_file that is a path ("${(0,common/* platformText */.VQ)(sharedFile, 200)}")`);
    }
    return { hostname, port, user, sharedFile };
}
async function access(v1, ref, ctx, opts) {
    const s = session(v1, opts);
    if (!s.access) {
        const answer = await v1.requestSftpAccess(ref, `# odoo-upgrade-action, request ${ref.id}\n${s.pair.publicKey}\n`, ctx);
        s.access = parseAccess(answer);
        ctx.log(`SFTP access: ${s.access.user}@${s.access.hostname}:${s.access.port}, file ${s.access.sharedFile} (${s.pair.ephemeral ? 'ephemeral key' : 'key from ssh-private-key'} ${s.pair.fingerprint})`);
    }
    return { pair: s.pair, access: s.access };
}
function target(pair, a, remotePath) {
    return { host: a.hostname, port: a.port, username: a.user, privateKey: pair.privateKey, remotePath };
}
async function uploadViaSftp(v1, ref, dump, ctx, opts) {
    const { pair, access: a } = await access(v1, ref, ctx, opts);
    const progress = ctx.progress('SFTP upload', dump.size);
    const r = await sftpUpload(dump.path, target(pair, a, a.sharedFile), {
        progress, log: ctx.log, signal: ctx.signal, expectedHostKey: a.hostKey, retryBaseMs: opts.retryBaseMs,
    });
    a.hostKey = r.hostKeyFingerprint;
    if (r.resumedFrom.length)
        ctx.log(`SFTP upload resumed ${r.resumedFrom.length} time(s), at ${r.resumedFrom.join(', ')} bytes`);
    return { bytes: r.bytes, sha256: r.sha256, resumes: r.resumedFrom.length };
}
async function downloadViaSftp(v1, ref, dest, ctx, opts) {
    let got;
    try {
        got = await access(v1, ref, ctx, opts);
    }
    catch (err) {
        throw new types/* PlatformError */.W(`SFTP download needs SFTP access, which the platform only grants while the request is in draft (${err.message}). ` +
            'Use `download-via: https`, or `download-via: sftp` from the run that uploads the dump.');
    }
    const { pair, access: a } = got;
    const remote = `upgraded_${a.sharedFile}`;
    // Through `.part`, renamed once whole, so a partial file never looks like a result. A `.part`
    // already there (an earlier attempt) is appended to after its end was checked against the
    // server's file; one that does not match is downloaded again.
    const part = `${dest}.part`;
    const had = (await (0,promises_.stat)(part).catch(() => undefined))?.size ?? 0;
    if (had > 0)
        ctx.log(`A partial download of ${had} bytes is there; resuming it over SFTP.`);
    const progress = ctx.progress('SFTP download');
    let r;
    try {
        r = await sftpDownload(target(pair, a, remote), part, {
            progress, log: ctx.log, signal: ctx.signal, expectedHostKey: a.hostKey, retryBaseMs: opts.retryBaseMs,
        });
    }
    catch (err) {
        // Stopped or given up: the partial file goes (the post step would remove it anyway).
        await (0,promises_.rm)(part, { force: true });
        throw err;
    }
    a.hostKey = r.hostKeyFingerprint;
    await (0,promises_.rename)(part, dest);
    if (r.resumedFrom.length)
        ctx.log(`SFTP download resumed ${r.resumedFrom.length} time(s), at ${r.resumedFrom.join(', ')} bytes`);
    return { role: 'dump', path: dest, bytes: r.bytes, sha256: r.sha256 };
}
/** Whether SFTP access was already granted in this run (for the HTTPS → SFTP fallback). */
function hasSftpAccess(v1) {
    return Boolean(sessions.get(v1)?.access);
}


/***/ }),

/***/ 83590:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   BL: () => (/* binding */ loadOrCreateKeyPair),
/* harmony export */   _7: () => (/* binding */ sha256Fingerprint),
/* harmony export */   ar: () => (/* binding */ writeKeyFiles),
/* harmony export */   tU: () => (/* binding */ makeKeyDir)
/* harmony export */ });
/* unused harmony exports SshKeyError, newEd25519PrivateKey */
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(77598);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(48161);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__webpack_require__.n(node_os__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_3__);
/* harmony import */ var ssh2__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(85472);
/* harmony import */ var ssh2__WEBPACK_IMPORTED_MODULE_4___default = /*#__PURE__*/__webpack_require__.n(ssh2__WEBPACK_IMPORTED_MODULE_4__);
/* harmony import */ var _secrets_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(27194);
// SSH key pairs for SFTP/rsync transfers: the user's key (input `ssh-private-key`) or an
// ephemeral ed25519 pair made in-process (node:crypto, serialized here). Keys leave this module in OpenSSH or classic PEM
// form, which both ssh2 and the OpenSSH client read.






const COMMENT = 'odoo-upgrade-action';
const INPUT = 'Input `ssh-private-key`';
class SshKeyError extends Error {
    constructor(message) {
        super(message);
        this.name = 'SshKeyError';
    }
}
/** OpenSSH's fingerprint of a public key blob (wire format). */
function sha256Fingerprint(blob) {
    return `SHA256:${(0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHash)('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}
/**
 * A fresh ed25519 private key in OpenSSH's format. Not ssh2.utils.generateKeyPairSync: ssh2 1.17
 * strips leading zero bytes of the seed and the public key, so about 1 key in 128 comes out
 * malformed (neither ssh2 nor OpenSSH loads it).
 */
function newEd25519PrivateKey() {
    return ed25519ToOpenSsh((0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.generateKeyPairSync)('ed25519').privateKey);
}
/** Parses the user's private key, or makes an ephemeral pair when the input is empty. */
function loadOrCreateKeyPair(privateKeyInput, registry = _secrets_js__WEBPACK_IMPORTED_MODULE_5__/* .secrets */ .O3) {
    const raw = privateKeyInput?.trim() ?? '';
    if (!raw) {
        const made = newEd25519PrivateKey();
        registry.add(made);
        return { ...describeKey(made), ephemeral: true };
    }
    registry.add(raw);
    const text = normalizeKeyText(raw);
    if (text !== raw)
        registry.add(text);
    const openssh = toSsh2Readable(text);
    if (openssh !== text)
        registry.add(openssh);
    return { ...describeKey(openssh), ephemeral: false };
}
/** Writes the pair for the OpenSSH client: private key 0600 (ssh refuses looser modes). */
async function writeKeyFiles(pair, dir) {
    const privateKeyPath = node_path__WEBPACK_IMPORTED_MODULE_3___default().join(dir, 'id_odoo_upgrade');
    const publicKeyPath = `${privateKeyPath}.pub`;
    await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.writeFile)(privateKeyPath, withNewline(pair.privateKey), { mode: 0o600 });
    await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.chmod)(privateKeyPath, 0o600); // an existing file keeps its old mode through writeFile
    await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.writeFile)(publicKeyPath, withNewline(pair.publicKey), { mode: 0o644 });
    return {
        privateKeyPath,
        publicKeyPath,
        async cleanup() {
            await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rm)(privateKeyPath, { force: true });
            await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rm)(publicKeyPath, { force: true });
        },
    };
}
/** A private (0700) temporary directory for key and known_hosts files. */
async function makeKeyDir() {
    const dir = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.mkdtemp)(node_path__WEBPACK_IMPORTED_MODULE_3___default().join((0,node_os__WEBPACK_IMPORTED_MODULE_2__.tmpdir)(), 'odoo-upgrade-ssh-'));
    return { dir, cleanup: () => (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rm)(dir, { recursive: true, force: true }) };
}
function describeKey(privateText) {
    const parsed = parseWithSsh2(privateText);
    const blob = parsed.getPublicSSH();
    return {
        privateKey: privateText,
        publicKey: `${parsed.type} ${blob.toString('base64')} ${COMMENT}`,
        fingerprint: sha256Fingerprint(blob),
    };
}
// Secrets pasted through web forms arrive with CRLF, or on one line with literal "\n".
function normalizeKeyText(raw) {
    let text = raw.replace(/\r\n?/g, '\n');
    if (!text.includes('\n') && text.includes('\\n'))
        text = text.replace(/\\n/g, '\n');
    return text.trim();
}
function toSsh2Readable(text) {
    if (isPublicKeyText(text)) {
        throw new SshKeyError(`${INPUT} holds a public key; give the private key (the key file without .pub).`);
    }
    if (/^-----BEGIN ENCRYPTED PRIVATE KEY-----/m.test(text) || /^Proc-Type:\s*4,ENCRYPTED/m.test(text)) {
        throw encryptedError();
    }
    if (/^-----BEGIN PRIVATE KEY-----/m.test(text))
        return fromPkcs8(text);
    if (/^-----BEGIN DSA PRIVATE KEY-----/m.test(text)) {
        throw new SshKeyError(`${INPUT} is a DSA key, which OpenSSH no longer accepts; use an ed25519, ECDSA or RSA key.`);
    }
    if (!/^-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----/m.test(text)) {
        throw new SshKeyError(`${INPUT} is not a private key in OpenSSH or PEM format (text starting with -----BEGIN ... PRIVATE KEY-----).`);
    }
    return text;
}
function isPublicKeyText(text) {
    return (/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-\S+|sk-\S+)\s+AAAA/.test(text) ||
        /^---- BEGIN SSH2 PUBLIC KEY ----/.test(text) ||
        /^-----BEGIN (RSA |EC )?PUBLIC KEY-----/.test(text));
}
function encryptedError() {
    return new SshKeyError(`${INPUT} is encrypted with a passphrase, which unattended runs cannot type; remove it (ssh-keygen -p -N '' -f <keyfile>) or use a dedicated key.`);
}
function parseWithSsh2(text) {
    const parsed = ssh2__WEBPACK_IMPORTED_MODULE_4___default().utils.parseKey(text);
    if (parsed instanceof Error) {
        if (/passphrase|encrypted/i.test(parsed.message))
            throw encryptedError();
        throw new SshKeyError(`${INPUT} could not be read as a private key: ${parsed.message}.`);
    }
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || !key.isPrivateKey())
        throw new SshKeyError(`${INPUT} holds a public key; give the private key.`);
    if (key.type === 'ssh-dss')
        throw new SshKeyError(`${INPUT} is a DSA key, which OpenSSH no longer accepts.`);
    return key;
}
// PKCS#8 ("BEGIN PRIVATE KEY", what openssl and `ssh-keygen -m PKCS8` write) is not read
// by ssh2: turn it into the classic PEM forms, or the OpenSSH form for ed25519.
function fromPkcs8(text) {
    let key;
    try {
        key = (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createPrivateKey)({ key: text, format: 'pem' });
    }
    catch {
        throw new SshKeyError(`${INPUT} looks like a PKCS#8 private key but could not be decoded.`);
    }
    switch (key.asymmetricKeyType) {
        case 'rsa':
            return String(key.export({ type: 'pkcs1', format: 'pem' })).trim();
        case 'ec':
            return String(key.export({ type: 'sec1', format: 'pem' })).trim();
        case 'ed25519':
            return ed25519ToOpenSsh(key);
        default:
            throw new SshKeyError(`${INPUT} is a ${key.asymmetricKeyType ?? 'unknown'} key; SSH needs ed25519, ECDSA or RSA.`);
    }
}
function ed25519ToOpenSsh(key) {
    const jwk = key.export({ format: 'jwk' });
    const seed = Buffer.from(String(jwk.d), 'base64url');
    const pub = Buffer.from(String(jwk.x), 'base64url');
    const type = Buffer.from('ssh-ed25519');
    const pubBlob = Buffer.concat([sshString(type), sshString(pub)]);
    const check = (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.randomBytes)(4);
    let priv = Buffer.concat([check, check, sshString(type), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(Buffer.from(COMMENT))]);
    const pad = (8 - (priv.length % 8)) % 8;
    priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
    const none = sshString(Buffer.from('none'));
    const body = Buffer.concat([
        Buffer.from('openssh-key-v1\0'), none, none, sshString(Buffer.alloc(0)), uint32(1), sshString(pubBlob), sshString(priv),
    ]);
    const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
    return ['-----BEGIN OPENSSH PRIVATE KEY-----', ...lines, '-----END OPENSSH PRIVATE KEY-----'].join('\n');
}
function sshString(b) {
    return Buffer.concat([uint32(b.length), b]);
}
function uint32(n) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
}
function withNewline(s) {
    return s.endsWith('\n') ? s : `${s}\n`;
}


/***/ })

};
