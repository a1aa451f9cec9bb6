// SSH key pairs for SFTP/rsync transfers: the user's key (input `ssh-private-key`) or an
// ephemeral ed25519 pair made in-process (node:crypto, serialized here). Keys leave this module in OpenSSH or classic PEM
// form, which both ssh2 and the OpenSSH client read.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { secrets, type SecretRegistry } from '../secrets.ts';

const COMMENT = 'odoo-upgrade-action';
const INPUT = 'Input `ssh-private-key`';

export interface KeyPair {
  privateKey: string;
  publicKey: string; // "ssh-ed25519 AAAA... odoo-upgrade-action"
  ephemeral: boolean;
  fingerprint: string; // "SHA256:...", as OpenSSH prints it
}

export class SshKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SshKeyError';
  }
}

/** OpenSSH's fingerprint of a public key blob (wire format). */
export function sha256Fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * A fresh ed25519 private key in OpenSSH's format. Not ssh2.utils.generateKeyPairSync: ssh2 1.17
 * strips leading zero bytes of the seed and the public key, so about 1 key in 128 comes out
 * malformed (neither ssh2 nor OpenSSH loads it).
 */
export function newEd25519PrivateKey(): string {
  return ed25519ToOpenSsh(generateKeyPairSync('ed25519').privateKey);
}

/** Parses the user's private key, or makes an ephemeral pair when the input is empty. */
export function loadOrCreateKeyPair(privateKeyInput: string | undefined, registry: SecretRegistry = secrets): KeyPair {
  const raw = privateKeyInput?.trim() ?? '';
  if (!raw) {
    const made = newEd25519PrivateKey();
    registry.add(made);
    return { ...describeKey(made), ephemeral: true };
  }
  registry.add(raw);
  const text = normalizeKeyText(raw);
  if (text !== raw) registry.add(text);
  const openssh = toSsh2Readable(text);
  if (openssh !== text) registry.add(openssh);
  return { ...describeKey(openssh), ephemeral: false };
}

export interface KeyFiles {
  privateKeyPath: string;
  publicKeyPath: string;
  cleanup(): Promise<void>;
}

/** Writes the pair for the OpenSSH client: private key 0600 (ssh refuses looser modes). */
export async function writeKeyFiles(pair: KeyPair, dir: string): Promise<KeyFiles> {
  const privateKeyPath = path.join(dir, 'id_odoo_upgrade');
  const publicKeyPath = `${privateKeyPath}.pub`;
  await writeFile(privateKeyPath, withNewline(pair.privateKey), { mode: 0o600 });
  await chmod(privateKeyPath, 0o600); // an existing file keeps its old mode through writeFile
  await writeFile(publicKeyPath, withNewline(pair.publicKey), { mode: 0o644 });
  return {
    privateKeyPath,
    publicKeyPath,
    async cleanup() {
      await rm(privateKeyPath, { force: true });
      await rm(publicKeyPath, { force: true });
    },
  };
}

/** A private (0700) temporary directory for key and known_hosts files. */
export async function makeKeyDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'odoo-upgrade-ssh-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

function describeKey(privateText: string): Omit<KeyPair, 'ephemeral'> {
  const parsed = parseWithSsh2(privateText);
  const blob = parsed.getPublicSSH();
  return {
    privateKey: privateText,
    publicKey: `${parsed.type} ${blob.toString('base64')} ${COMMENT}`,
    fingerprint: sha256Fingerprint(blob),
  };
}

// Secrets pasted through web forms arrive with CRLF, or on one line with literal "\n".
function normalizeKeyText(raw: string): string {
  let text = raw.replace(/\r\n?/g, '\n');
  if (!text.includes('\n') && text.includes('\\n')) text = text.replace(/\\n/g, '\n');
  return text.trim();
}

function toSsh2Readable(text: string): string {
  if (isPublicKeyText(text)) {
    throw new SshKeyError(`${INPUT} holds a public key; give the private key (the key file without .pub).`);
  }
  if (/^-----BEGIN ENCRYPTED PRIVATE KEY-----/m.test(text) || /^Proc-Type:\s*4,ENCRYPTED/m.test(text)) {
    throw encryptedError();
  }
  if (/^-----BEGIN PRIVATE KEY-----/m.test(text)) return fromPkcs8(text);
  if (/^-----BEGIN DSA PRIVATE KEY-----/m.test(text)) {
    throw new SshKeyError(`${INPUT} is a DSA key, which OpenSSH no longer accepts; use an ed25519, ECDSA or RSA key.`);
  }
  if (!/^-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----/m.test(text)) {
    throw new SshKeyError(`${INPUT} is not a private key in OpenSSH or PEM format (text starting with -----BEGIN ... PRIVATE KEY-----).`);
  }
  return text;
}

function isPublicKeyText(text: string): boolean {
  return (
    /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-\S+|sk-\S+)\s+AAAA/.test(text) ||
    /^---- BEGIN SSH2 PUBLIC KEY ----/.test(text) ||
    /^-----BEGIN (RSA |EC )?PUBLIC KEY-----/.test(text)
  );
}

function encryptedError(): SshKeyError {
  return new SshKeyError(`${INPUT} is encrypted with a passphrase, which unattended runs cannot type; remove it (ssh-keygen -p -N '' -f <keyfile>) or use a dedicated key.`);
}

function parseWithSsh2(text: string): ParsedKey {
  const parsed = ssh2.utils.parseKey(text);
  if (parsed instanceof Error) {
    if (/passphrase|encrypted/i.test(parsed.message)) throw encryptedError();
    throw new SshKeyError(`${INPUT} could not be read as a private key: ${parsed.message}.`);
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || !key.isPrivateKey()) throw new SshKeyError(`${INPUT} holds a public key; give the private key.`);
  if (key.type === 'ssh-dss') throw new SshKeyError(`${INPUT} is a DSA key, which OpenSSH no longer accepts.`);
  return key;
}

// PKCS#8 ("BEGIN PRIVATE KEY", what openssl and `ssh-keygen -m PKCS8` write) is not read
// by ssh2: turn it into the classic PEM forms, or the OpenSSH form for ed25519.
function fromPkcs8(text: string): string {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch {
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

function ed25519ToOpenSsh(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  const seed = Buffer.from(String(jwk.d), 'base64url');
  const pub = Buffer.from(String(jwk.x), 'base64url');
  const type = Buffer.from('ssh-ed25519');
  const pubBlob = Buffer.concat([sshString(type), sshString(pub)]);
  const check = randomBytes(4);
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

function sshString(b: Buffer): Buffer {
  return Buffer.concat([uint32(b.length), b]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function withNewline(s: string): string {
  return s.endsWith('\n') ? s : `${s}\n`;
}
