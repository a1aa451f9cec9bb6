// A pending request's handle (what a later run needs to collect it: protocol, id, key or token,
// node, ...), sealed under a passphrase so it can travel as a workflow artifact. AES-256-GCM
// authenticates the whole envelope (its header is the additional data); the key comes from scrypt
// with a random salt, so a leaked artifact costs an attacker a memory-hard guess per passphrase.
import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb, type ScryptOptions } from 'node:crypto';

export const HANDLE_FILE = 'odoo-upgrade-handle.json';
const FORMAT = 'odoo-upgrade-handle' as const;
const VERSION = 1;
// N = 2^15, r = 8: 32 MiB and ~0.1 s per derivation here, the cost scrypt's authors suggest for
// interactive use; an attacker pays it per guess. The parameters travel with the handle.
const KDF = { N: 2 ** 15, r: 8, p: 1 } as const;
const MAX_N = 2 ** 20;
const MAX_HANDLE_BYTES = 64 * 1024;

export interface Handle {
  api: 'v1' | 'rpc';
  id: string;
  key: string;
  /** rpc: the data server the request lives on, when the platform named one. */
  host?: string;
  platformUrl: string;
  target: string;
  aim: string;
  dump?: { name: string; sha256?: string };
  startedAt: string;
  repository?: string;
  runId?: number;
  /** rpc: the SSH key made for the run that created the request (its data server lets in no other). */
  sshPrivateKey?: string;
}

interface Envelope {
  format: typeof FORMAT;
  version: number;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: 'aes-256-gcm';
  iv: string;
  tag: string;
  data: string;
}

/** A handle that cannot be opened, and which input to fix. */
export class HandleError extends Error {
  override name = 'HandleError';
  readonly input: 'handle-passphrase' | 'collect';
  constructor(input: 'handle-passphrase' | 'collect', message: string) {
    super(`${input}: ${message}`);
    this.input = input;
  }
}

function derive(passphrase: string, salt: Buffer, kdf: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scryptCb(passphrase.normalize('NFC'), salt, 32, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

function header(e: Pick<Envelope, 'format' | 'version' | 'kdf' | 'cipher' | 'iv'>): Buffer {
  return Buffer.from(JSON.stringify([e.format, e.version, e.kdf.name, e.kdf.N, e.kdf.r, e.kdf.p, e.kdf.salt, e.cipher, e.iv]));
}

export async function sealHandle(handle: Handle, passphrase: string): Promise<string> {
  if (!passphrase) throw new HandleError('handle-passphrase', 'is empty.');
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = await derive(passphrase, salt, KDF);
  const head = { format: FORMAT, version: VERSION, kdf: { name: 'scrypt' as const, ...KDF, salt: salt.toString('base64') }, cipher: 'aes-256-gcm' as const, iv: iv.toString('base64') };
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(header(head));
  const data = Buffer.concat([c.update(JSON.stringify(handle), 'utf8'), c.final()]);
  const env: Envelope = { ...head, tag: c.getAuthTag().toString('base64'), data: data.toString('base64') };
  return `${JSON.stringify(env, null, 1)}\n`;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function b64(value: unknown, what: string, bytes?: number): Buffer {
  if (typeof value !== 'string' || !B64.test(value)) throw damaged(`its ${what} is not base64`);
  const buf = Buffer.from(value, 'base64');
  if (bytes !== undefined && buf.length !== bytes) throw damaged(`its ${what} has ${buf.length} bytes, not ${bytes}`);
  return buf;
}

function damaged(why: string): HandleError {
  return new HandleError('collect', `the pending handle is damaged (${why}); it cannot be collected. Start a new upgrade, or collect another handle.`);
}

/** Opens a sealed handle; a wrong passphrase and any change to the text are told apart only as far as GCM allows. */
export async function openHandle(text: string, passphrase: string): Promise<Handle> {
  if (!passphrase) throw new HandleError('handle-passphrase', 'is empty: collecting a pending handle needs the passphrase it was sealed with.');
  if (text.length > MAX_HANDLE_BYTES) throw damaged('larger than 64 KiB');
  let env: Partial<Envelope>;
  try {
    env = JSON.parse(text) as Partial<Envelope>;
  } catch {
    throw damaged('not JSON; truncated?');
  }
  if (!env || typeof env !== 'object' || env.format !== FORMAT) throw damaged('not an odoo-upgrade handle');
  if (env.version !== VERSION) throw damaged(`format version ${String(env.version)}, this action reads ${VERSION}`);
  const k = env.kdf;
  if (!k || k.name !== 'scrypt' || !Number.isInteger(k.N) || !Number.isInteger(k.r) || !Number.isInteger(k.p)) throw damaged('no valid scrypt parameters');
  // Bounds keep a forged header from making the derivation take minutes or gigabytes.
  if (k.N < 2 ** 14 || k.N > MAX_N || (k.N & (k.N - 1)) !== 0 || k.r < 1 || k.r > 16 || k.p < 1 || k.p > 4) throw damaged('scrypt parameters out of range');
  if (env.cipher !== 'aes-256-gcm') throw damaged('unknown cipher');
  const salt = b64(k.salt, 'salt', 16);
  const iv = b64(env.iv, 'nonce', 12);
  const tag = b64(env.tag, 'tag', 16);
  const data = b64(env.data, 'data');
  const key = await derive(passphrase, salt, k);
  let plain: string;
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(header(env as Envelope));
    d.setAuthTag(tag);
    plain = Buffer.concat([d.update(data), d.final()]).toString('utf8');
  } catch {
    throw new HandleError(
      'handle-passphrase',
      'the pending handle does not open with this passphrase: the passphrase differs from the one it was sealed with, or the handle was altered. Nothing was sent to the platform.',
    );
  }
  return checkHandle(JSON.parse(plain) as unknown);
}

function checkHandle(v: unknown): Handle {
  const h = v as Partial<Handle>;
  const str = (x: unknown) => typeof x === 'string' && x.length > 0;
  if (!h || typeof h !== 'object' || (h.api !== 'v1' && h.api !== 'rpc') || !str(h.id) || !str(h.key) || !str(h.platformUrl) || typeof h.target !== 'string') {
    throw damaged('its content lacks the request');
  }
  return h as Handle;
}

/** The artifact name of a request's handle: one per request, findable by pattern. */
export function handleArtifactName(stem: string, target: string, id: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._~-]+/g, '-').replace(/^-+|-+$/g, '') || 'dump';
  return `odoo-upgrade-pending-${clean(stem)}-${clean(target)}-${clean(id)}`;
}

/** `collect` as a matcher: a name, or a pattern where `*` stands for any run of characters. */
export function collectMatcher(pattern: string): (name: string) => boolean {
  const p = pattern.trim();
  if (!p.includes('*')) return (name) => name === p;
  const parts = p.split('*');
  // Linear: each part found left to right (no regex backtracking on long names).
  return (name) => {
    if (!name.startsWith(parts[0]) || !name.endsWith(parts[parts.length - 1])) return false;
    let at = parts[0].length;
    const end = name.length - parts[parts.length - 1].length;
    if (end < at) return false;
    for (const part of parts.slice(1, -1)) {
      const i = name.indexOf(part, at);
      if (i < 0 || i + part.length > end) return false;
      at = i + part.length;
    }
    return true;
  };
}
