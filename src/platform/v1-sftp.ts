// SFTP for v1 (request_sftp_access): big dumps go up with resume, and the upgraded dump
// can come down the same way. The key pair is the user's or an ephemeral one that never
// touches the disk; only its public half is sent.
import { rename, rm, stat } from 'node:fs/promises';
import { loadOrCreateKeyPair, type KeyPair } from '../transfer/ssh-keys.ts';
import { sftpUpload, sftpDownload, type SftpTarget } from '../transfer/sftp.ts';
import type { DumpInfo } from '../formats/inspect.ts';
import { BadAnswerError } from '../net/http.ts';
import { platformText } from './common.ts';
import { PlatformError, type DownloadedFile, type RequestRef, type TransferContext } from './types.ts';
import type { V1Options, V1SftpHost as V1Platform } from './v1-answers.ts';

export interface SftpAccess {
  hostname: string;
  port: number;
  user: string;
  sharedFile: string;
  hostKey?: string; // pinned after the first connection, for every later one
}

const sessions = new WeakMap<V1Platform, { pair: KeyPair; access?: SftpAccess }>();

function session(v1: V1Platform, opts: V1Options) {
  let s = sessions.get(v1);
  if (!s) {
    s = { pair: loadOrCreateKeyPair(opts.sshPrivateKey, opts.secrets) };
    sessions.set(v1, s);
  }
  return s;
}

/** The SFTP access answer; strings must be strings (an object is not a host name), the port an integer. */
export function parseAccess(request: Record<string, unknown>): SftpAccess {
  const str = (v: unknown) => (typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '');
  const hostname = str(request.hostname);
  const port = typeof request.sftp_port === 'number' || typeof request.sftp_port === 'string' ? Number(request.sftp_port) : NaN;
  const user = str(request.sftp_user);
  const sharedFile = str(request.shared_file);
  if (!hostname || !Number.isInteger(port) || port <= 0 || port > 65535 || !user || !sharedFile) {
    throw new BadAnswerError('request_sftp_access: the platform answered without hostname, sftp_port, sftp_user and shared_file');
  }
  if (!/^[A-Za-z0-9.-]{1,253}$|^\[?[0-9A-Fa-f:.]+\]?$/.test(hostname)) {
    throw new BadAnswerError(`request_sftp_access: the platform gave a hostname that is not a host name ("${platformText(hostname, 80)}")`);
  }
  if (/[\x00-\x1f\s@:]/.test(user) || user.length > 100) throw new BadAnswerError('request_sftp_access: the platform gave an unusable sftp_user');
  if (/[\\/\x00-\x1f]|^\.\.?$/.test(sharedFile)) {
    throw new BadAnswerError(`request_sftp_access: refusing a shared_file that is a path ("${platformText(sharedFile, 200)}")`);
  }
  return { hostname, port, user, sharedFile };
}

async function access(v1: V1Platform, ref: RequestRef, ctx: TransferContext, opts: V1Options): Promise<{ pair: KeyPair; access: SftpAccess }> {
  const s = session(v1, opts);
  if (!s.access) {
    const answer = await v1.requestSftpAccess(ref, `# odoo-upgrade-action, request ${ref.id}\n${s.pair.publicKey}\n`, ctx);
    s.access = parseAccess(answer);
    ctx.log(`SFTP access: ${s.access.user}@${s.access.hostname}:${s.access.port}, file ${s.access.sharedFile} (${s.pair.ephemeral ? 'ephemeral key' : 'key from ssh-private-key'} ${s.pair.fingerprint})`);
  }
  return { pair: s.pair, access: s.access };
}

function target(pair: KeyPair, a: SftpAccess, remotePath: string): SftpTarget {
  return { host: a.hostname, port: a.port, username: a.user, privateKey: pair.privateKey, remotePath };
}

export async function uploadViaSftp(v1: V1Platform, ref: RequestRef, dump: DumpInfo, ctx: TransferContext, opts: V1Options) {
  const { pair, access: a } = await access(v1, ref, ctx, opts);
  const progress = ctx.progress('SFTP upload', dump.size);
  const r = await sftpUpload(dump.path, target(pair, a, a.sharedFile), {
    progress, log: ctx.log, signal: ctx.signal, expectedHostKey: a.hostKey, retryBaseMs: opts.retryBaseMs,
  });
  a.hostKey = r.hostKeyFingerprint;
  if (r.resumedFrom.length) ctx.log(`SFTP upload resumed ${r.resumedFrom.length} time(s), at ${r.resumedFrom.join(', ')} bytes`);
  return { bytes: r.bytes, sha256: r.sha256, resumes: r.resumedFrom.length };
}

export async function downloadViaSftp(v1: V1Platform, ref: RequestRef, dest: string, ctx: TransferContext, opts: V1Options): Promise<DownloadedFile> {
  let got;
  try {
    got = await access(v1, ref, ctx, opts);
  } catch (err) {
    throw new PlatformError(
      `SFTP download needs SFTP access, which the platform only grants while the request is in draft (${(err as Error).message}). ` +
        'Use `download-via: https`, or `download-via: sftp` from the run that uploads the dump.',
    );
  }
  const { pair, access: a } = got;
  const remote = `upgraded_${a.sharedFile}`;
  // Through `.part`, renamed once whole, so a partial file never looks like a result. A `.part`
  // already there (an earlier attempt) is appended to after its end was checked against the
  // server's file; one that does not match is downloaded again.
  const part = `${dest}.part`;
  const had = (await stat(part).catch(() => undefined))?.size ?? 0;
  if (had > 0) ctx.log(`A partial download of ${had} bytes is there; resuming it over SFTP.`);
  const progress = ctx.progress('SFTP download');
  let r;
  try {
    r = await sftpDownload(target(pair, a, remote), part, {
      progress, log: ctx.log, signal: ctx.signal, expectedHostKey: a.hostKey, retryBaseMs: opts.retryBaseMs,
    });
  } catch (err) {
    // Stopped or given up: the partial file goes (the post step would remove it anyway).
    await rm(part, { force: true });
    throw err;
  }
  a.hostKey = r.hostKeyFingerprint;
  await rename(part, dest);
  if (r.resumedFrom.length) ctx.log(`SFTP download resumed ${r.resumedFrom.length} time(s), at ${r.resumedFrom.join(', ')} bytes`);
  return { role: 'dump', path: dest, bytes: r.bytes, sha256: r.sha256 };
}

/** Whether SFTP access was already granted in this run (for the HTTPS → SFTP fallback). */
export function hasSftpAccess(v1: V1Platform): boolean {
  return Boolean(sessions.get(v1)?.access);
}
