// A local CA and a server certificate for 127.0.0.1 and localhost, made once with the
// openssl CLI and reused. Several processes may start emulators at once: a lock directory
// serialises the making, files are made in a private temp dir and renamed into place with
// server.pem last, and a set only counts when server.pem exists and was issued by ca.pem.
import { execFile } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const run = promisify(execFile);
const LOCK_STALE_MS = 60_000;
const LOCK_WAIT_MS = 60_000;

export interface CertFiles { dir: string; caFile: string; caKeyFile: string; certFile: string; keyFile: string }

export function defaultCertDir(): string {
  return path.join(os.tmpdir(), 'odoo-upgrade-emulator-certs');
}

function filesIn(dir: string): CertFiles {
  return {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    caKeyFile: path.join(dir, 'ca.key'),
    certFile: path.join(dir, 'server.pem'),
    keyFile: path.join(dir, 'server.key'),
  };
}

export async function ensureCerts(dir: string = defaultCertDir()): Promise<CertFiles> {
  const files = filesIn(path.resolve(dir));
  if (await usable(files)) return files;
  await mkdir(files.dir, { recursive: true, mode: 0o700 });
  const unlock = await lock(path.join(files.dir, '.lock'));
  try {
    if (!(await usable(files))) await make(files);
  } finally {
    await unlock();
  }
  if (!(await usable(files))) throw new Error(`certificates in ${files.dir} are not usable after making them`);
  return files;
}

async function usable(f: CertFiles): Promise<boolean> {
  try {
    const [caPem, certPem] = await Promise.all([readFile(f.caFile), readFile(f.certFile), stat(f.keyFile), stat(f.caKeyFile)]);
    const ca = new X509Certificate(caPem);
    const cert = new X509Certificate(certPem);
    const tomorrow = Date.now() + 86_400_000;
    return (
      cert.checkIssued(ca) &&
      cert.verify(ca.publicKey) &&
      new Date(cert.validTo).getTime() > tomorrow &&
      new Date(ca.validTo).getTime() > tomorrow &&
      cert.checkIP('127.0.0.1') === '127.0.0.1' &&
      cert.checkHost('localhost') === 'localhost'
    );
  } catch {
    return false;
  }
}

async function make(f: CertFiles): Promise<void> {
  const tmp = await mkdtemp(path.join(f.dir, '.tmp-'));
  try {
    const t = filesIn(tmp);
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await openssl(['req', '-x509', '-new', ...ec, '-keyout', t.caKeyFile, '-out', t.caFile, '-days', '3650',
      '-subj', '/CN=Odoo Upgrade Emulator local CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    await signServerCert(t, ['127.0.0.1'], 825, tmp);
    await Promise.all([chmod(t.caKeyFile, 0o600), chmod(t.keyFile, 0o600)]);
    for (const name of ['caKeyFile', 'caFile', 'keyFile', 'certFile'] as const) await rename(t[name], f[name]);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${(e.stderr || e.message).trim()}`);
  }
}

/** mkdir is atomic: whoever creates the directory holds the lock. */
async function lock(dir: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      await mkdir(dir);
      return () => rm(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(dir).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > LOCK_STALE_MS) await rm(dir, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`timed out waiting for the certificate lock ${dir}`);
      else await sleep(50);
    }
  }
}

/**
 * A fresh server key and certificate signed by the local CA for the given IP addresses (plus
 * 127.0.0.1 and localhost): the rpc node listens on a loopback address of its own and must
 * be trusted there as `https://<host_uri>`. Kept in memory; nothing is left on disk.
 */
export async function issueServerCert(ca: CertFiles, ips: string[]): Promise<{ key: Buffer; cert: Buffer }> {
  const all = [...new Set(['127.0.0.1', ...ips])];
  for (const ip of all) if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new Error(`issueServerCert: not an IPv4 address: ${ip}`);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'odoo-upgrade-emulator-cert-'));
  try {
    const t = { ...ca, keyFile: path.join(tmp, 'server.key'), certFile: path.join(tmp, 'server.pem') };
    await signServerCert(t, all, 30, tmp);
    return { key: await readFile(t.keyFile), cert: await readFile(t.certFile) };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A new EC key and a server certificate for `ips` and localhost, signed by the CA in `f`. */
async function signServerCert(f: CertFiles, ips: string[], days: number, tmp: string): Promise<void> {
  const csr = path.join(tmp, 'server.csr');
  const ext = path.join(tmp, 'server.ext');
  await writeFile(ext, [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')},DNS:localhost`,
    'subjectKeyIdentifier=hash',
    'authorityKeyIdentifier=keyid,issuer',
    '',
  ].join('\n'));
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f.keyFile, '-out', csr, '-subj', '/CN=localhost']);
  await openssl(['x509', '-req', '-in', csr, '-CA', f.caFile, '-CAkey', f.caKeyFile, '-set_serial', `0x${randomBytes(16).toString('hex')}`,
    '-days', String(days), '-out', f.certFile, '-extfile', ext]);
}
