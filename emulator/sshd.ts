// A real OpenSSH sshd on 127.0.0.1 for tests and the local emulator, serving one user the
// way Odoo's data servers do.
//  - sftp:  `internal-sftp` chrooted into a root-owned directory where only the shared
//           file (owned by the user) is writable: no other file can be created.
//  - rsync: a chroot holding the user's shell, rsync and their libraries plus a user-owned
//           /data, so clients use the platform's real user and paths (odoo@, /data/...).
// One system user per mode (created once with useradd, reused by every instance); each
// instance has its own config, host key, authorized_keys and port, and is stopped by PID.
// Needs root: sshd's ChrootDirectory demands root-owned paths.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { mkdtemp, mkdir, writeFile, rename, rm, chmod, chown, copyFile, stat, readFile, readdir, link, open } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import { newEd25519PrivateKey, sha256Fingerprint } from '../src/transfer/ssh-keys.ts';

const run = promisify(execFile);

/** An ed25519 pair in OpenSSH's format (the public key as an authorized_keys line). */
export function ed25519KeyPair(): { private: string; public: string } {
  const privateKey = newEd25519PrivateKey();
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw parsed;
  return { private: privateKey, public: `${parsed.type} ${parsed.getPublicSSH().toString('base64')} odoo-upgrade-emulator` };
}

const SSHD = '/usr/sbin/sshd';
const DEFAULT_BASE = process.env.ODOO_UPGRADE_SSHD_DIR || '/var/lib/odoo-upgrade-emulator';

export interface SshdOptions {
  mode: 'sftp' | 'rsync';
  authorizedKeys: string;
  sharedFile?: string; // sftp: name of the only writable file
  port?: number;
  log?: (l: string) => void;
  /** System user to serve (created if missing); default odoo-upgrade-sftp / odoo. */
  user?: string;
  /** Parent of the instance directory: every component must be root-owned, not group/world writable. */
  baseDir?: string;
  /** Run sshd inside this network namespace (bench: behind a shaped link); give `port` then. */
  netns?: string;
}

export interface Sshd {
  host: string;
  port: number;
  user: string;
  hostKeyFingerprint: string; // "SHA256:..."
  knownHostsLine: string;
  /** sftp: the chroot dir holding the shared file; rsync: the host dir seen as /data. */
  root: string;
  sharedFilePath?: string;
  setAuthorizedKeys(text: string): Promise<void>;
  /** PIDs of the per-connection processes sshd forked (none once every client is gone). */
  sessionPids(): Promise<number[]>;
  close(): Promise<void>;
}

export async function startSshd(opts: SshdOptions): Promise<Sshd> {
  if (process.getuid?.() !== 0) throw new Error('startSshd needs root (sshd chroots and switches users)');
  // rsync: the platform's user name, so a transport hard-coding `odoo@` works unchanged.
  const user = opts.user ?? (opts.mode === 'sftp' ? 'odoo-upgrade-sftp' : 'odoo');
  const sharedFile = opts.sharedFile ?? 'upload.dump';
  if (opts.mode === 'sftp' && (sharedFile.includes('/') || sharedFile.startsWith('.'))) throw new Error(`bad shared file name: ${sharedFile}`);
  const log = opts.log ?? (() => {});

  const uid = await ensureUser(user, opts.mode === 'sftp' ? '/' : '/data');
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // Debian's privilege separation dir
  const baseParent = opts.baseDir ?? DEFAULT_BASE;
  await mkdir(baseParent, { recursive: true, mode: 0o755 });
  await assertRootOwnedPath(baseParent);
  const base = await mkdtemp(path.join(baseParent, `${opts.mode}-`));
  let child: ChildProcess | undefined;
  try {
    await chmod(base, 0o755); // sshd reads authorized_keys as the user
    const chroot = path.join(base, 'root');
    await mkdir(chroot, { mode: 0o755 });
    let root = chroot;
    let sharedFilePath: string | undefined;
    if (opts.mode === 'sftp') {
      sharedFilePath = path.join(chroot, sharedFile);
      await writeFile(sharedFilePath, '', { mode: 0o644 });
      await chown(sharedFilePath, uid, -1);
    } else {
      await populateRsyncChroot(chroot, await shellOf(user), baseParent);
      root = path.join(chroot, 'data');
      await mkdir(root, { mode: 0o755 });
      await chown(root, uid, -1);
    }

    const hostKeyPath = path.join(base, 'host_ed25519_key');
    // Made in-process (ssh2 writes OpenSSH's own key format): one ssh-keygen less per server.
    const hostKey = ed25519KeyPair();
    await writeFile(hostKeyPath, `${hostKey.private}\n`, { mode: 0o600 });
    await writeFile(`${hostKeyPath}.pub`, `${hostKey.public}\n`, { mode: 0o644 });
    const hostBlob = Buffer.from(hostKey.public.split(' ')[1]!, 'base64');
    const authorizedKeysPath = path.join(base, 'authorized_keys');
    const setAuthorizedKeys = async (text: string) => {
      const tmp = `${authorizedKeysPath}.tmp`;
      await writeFile(tmp, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o644 });
      await rename(tmp, authorizedKeysPath); // sshd reads it at each login: swap atomically
    };
    await setAuthorizedKeys(opts.authorizedKeys);

    const version = await sshdVersion();
    const configPath = path.join(base, 'sshd_config');
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = opts.port ?? (await freePort());
      const config = sshdConfig({ mode: opts.mode, port, user, hostKeyPath, authorizedKeysPath, chroot, version });
      await writeFile(configPath, config, { mode: 0o600 });
      try {
        child = await launch(configPath, port, log, version, opts.netns);
        break;
      } catch (err) {
        // Another process may have taken the probed port in between: probe again.
        if (opts.port || attempt >= 5 || !/Address already in use/.test(String(err))) throw err;
      }
    }
    // A forgotten close() must not keep the process alive: the exit hook stops sshd then.
    child.unref();
    for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
    const pid = child.pid as number;
    const onExit = () => killTree(pid, base);
    process.once('exit', onExit);

    const blobB64 = hostBlob.toString('base64');
    return {
      host: '127.0.0.1',
      port,
      user,
      hostKeyFingerprint: sha256Fingerprint(hostBlob),
      knownHostsLine: `${port === 22 ? '127.0.0.1' : `[127.0.0.1]:${port}`} ssh-ed25519 ${blobB64}`,
      root,
      sharedFilePath,
      setAuthorizedKeys,
      sessionPids: () => descendants(pid),
      async close() {
        process.removeListener('exit', onExit);
        await stopTree(child as ChildProcess);
        await rm(base, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (child) await stopTree(child);
    await rm(base, { recursive: true, force: true });
    throw err;
  }
}

interface ConfigParams {
  mode: 'sftp' | 'rsync';
  port: number;
  user: string;
  hostKeyPath: string;
  authorizedKeysPath: string;
  chroot: string;
  version: [number, number];
}

export function sshdConfig(p: ConfigParams): string {
  const lines = [
    'ListenAddress 127.0.0.1',
    `Port ${p.port}`,
    `HostKey ${p.hostKeyPath}`,
    'PidFile none',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'AuthenticationMethods publickey',
    'PermitRootLogin no',
    `AllowUsers ${p.user}`,
    `AuthorizedKeysFile ${p.authorizedKeysPath}`,
    'PermitUserEnvironment no',
    'AllowTcpForwarding no',
    'AllowAgentForwarding no',
    'AllowStreamLocalForwarding no',
    'X11Forwarding no',
    'PermitTTY no',
    'PermitTunnel no',
    'UseDNS no',
    'PrintMotd no',
    'LoginGraceTime 30',
    'MaxStartups 50:30:100',
    'LogLevel VERBOSE',
    'Subsystem sftp internal-sftp',
    `ChrootDirectory ${p.chroot}`,
  ];
  if (p.mode === 'sftp') lines.push('ForceCommand internal-sftp -d /');
  // OpenSSH 9.8+ penalises sources that fail auth or drop connections: tests do both.
  if (p.version[0] > 9 || (p.version[0] === 9 && p.version[1] >= 8)) lines.push('PerSourcePenalties no');
  return `${lines.join('\n')}\n`;
}

async function launch(configPath: string, port: number, log: (l: string) => void, version: [number, number], netns?: string): Promise<ChildProcess> {
  // Before 9.8, `-r` keeps sshd from re-executing itself for every connection: ~45 ms of CPU less
  // each on this VM, where exec is dear (9.8 split sshd in two and always execs sshd-session).
  const noReexec = version[0] < 9 || (version[0] === 9 && version[1] < 8) ? ['-r'] : [];
  const args = ['-D', '-e', ...noReexec, '-f', configPath];
  // `ip netns exec` execs sshd in place: the PID stays sshd's.
  const child = netns ? spawn('ip', ['netns', 'exec', netns, SSHD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(SSHD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const recent: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`sshd did not start listening within 10 s:\n${recent.join('\n')}`)), 10_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      if (child.exitCode === null && child.pid) child.kill('SIGKILL');
      reject(err);
    };
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trimEnd();
        buffered = buffered.slice(nl + 1);
        recent.push(line);
        if (recent.length > 40) recent.shift();
        log(line);
        if (line.includes(`Server listening on 127.0.0.1 port ${port}`)) {
          clearTimeout(timer);
          resolve(child);
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', fail);
    child.once('exit', (code, sig) => fail(new Error(`sshd exited (${code ?? sig}) before listening:\n${recent.join('\n')}`)));
  });
}

let version: Promise<[number, number]> | undefined;

/** sshd's version, asked once per process. */
function sshdVersion(): Promise<[number, number]> {
  version ??= (async (): Promise<[number, number]> => {
    const r = await run(SSHD, ['-V']).catch((e: { stdout?: string; stderr?: string }) => e);
    const m = /OpenSSH_(\d+)\.(\d+)/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    return m ? [Number(m[1]), Number(m[2])] : [0, 0];
  })();
  return version;
}

const userCreation = new Map<string, Promise<number>>();
// Several test processes start sshds at the same moment. Under one flock, "look, then create"
// is atomic across them: exactly one runs useradd, the others find its user. The retries stay
// for useradd's own /etc/passwd lock, which tools outside this flock may hold.
const USERADD_LOCK = '/run/odoo-upgrade-emulator-useradd.lock';

// sshd without PAM refuses accounts whose password field is locked ("!"): "*" means
// "no password" without locking, so only the key gets in.
export function ensureUser(name: string, home: string): Promise<number> {
  let p = userCreation.get(name);
  if (!p) {
    p = (async () => {
      const useradd = ['useradd', '--system', '--no-create-home', '--home-dir', home, '--shell', '/bin/sh', '--password', '*', name];
      const locked = await hasFlock();
      for (let attempt = 1; ; attempt++) {
        const existing = await uidOf(name);
        if (existing !== undefined) {
          await assertNotLocked(name);
          return existing;
        }
        try {
          if (locked) {
            await run('flock', ['-w', '60', USERADD_LOCK, 'sh', '-c', 'id -u "$1" >/dev/null 2>&1 || { shift; exec "$@"; }', 'sh', name, ...useradd]);
          } else {
            await run(useradd[0]!, useradd.slice(1));
          }
        } catch (err) {
          // Another process made it (exit 9) or holds the passwd lock (10): look again.
          if (attempt >= 10) throw err;
          await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      }
    })();
    userCreation.set(name, p);
    p.catch(() => userCreation.delete(name));
  }
  return p;
}

async function hasFlock(): Promise<boolean> {
  return run('flock', ['--version']).then(() => true, () => false);
}

async function assertNotLocked(name: string): Promise<void> {
  const shadow = await readFile('/etc/shadow', 'utf8').catch(() => '');
  const entry = shadow.split('\n').find((l) => l.startsWith(`${name}:`));
  if (entry?.split(':')[1]?.startsWith('!')) {
    throw new Error(`user ${name} exists with a locked password, which sshd (without PAM) refuses; pass another \`user\` or run: usermod -p '*' ${name}`);
  }
}

async function uidOf(name: string): Promise<number | undefined> {
  try {
    const { stdout } = await run('id', ['-u', name]);
    return Number(stdout.trim());
  } catch {
    return undefined;
  }
}

const shells = new Map<string, Promise<string>>();

function shellOf(name: string): Promise<string> {
  let p = shells.get(name);
  if (!p) {
    p = run('getent', ['passwd', name]).then(({ stdout }) => stdout.trim().split(':')[6] || '/bin/sh');
    shells.set(name, p);
    p.catch(() => shells.delete(name));
  }
  return p;
}

async function assertRootOwnedPath(dir: string): Promise<void> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const s = await stat(d);
    if (s.uid !== 0 || (s.mode & 0o022) !== 0) {
      throw new Error(`sshd's ChrootDirectory needs every component root-owned and not group/world writable: ${d} is not (set baseDir or ODOO_UPGRADE_SSHD_DIR)`);
    }
    if (d === path.dirname(d)) return;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

// The rsync chroot: the user's shell, rsync and the shared libraries both need (from ldd).
// They are found and copied once per process into a root-owned folder next to the instances,
// then hard-linked into each chroot (root-owned, read-only to the user): a few links instead of
// two ldd runs and megabytes of copies per server. A copy is made when a link cannot be.
const chrootFiles = new Map<string, Promise<{ dir: string; files: string[] }>>();
const chrootCacheDirs = new Set<string>();

function chrootCache(shell: string, baseParent: string): Promise<{ dir: string; files: string[] }> {
  const key = `${shell}\0${baseParent}`;
  let p = chrootFiles.get(key);
  if (!p) {
    p = (async () => {
      const rsync = await which('rsync');
      const files = new Set<string>([shell, rsync]);
      for (const bin of [shell, rsync]) {
        const { stdout } = await run('ldd', [bin]);
        for (const m of stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) files.add(m[1]);
      }
      const dir = await mkdtemp(path.join(baseParent, '.chroot-files-'));
      if (chrootCacheDirs.size === 0) {
        process.once('exit', () => {
          for (const d of chrootCacheDirs) rmSync(d, { recursive: true, force: true });
        });
      }
      chrootCacheDirs.add(dir);
      await chmod(dir, 0o755);
      for (const f of files) {
        const dest = path.join(dir, f);
        await mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
        await copyFile(f, dest); // follows symlinks: the chroot holds plain files
        await chmod(dest, 0o755);
      }
      if (rsync !== '/usr/bin/rsync') {
        await mkdir(path.join(dir, 'usr/bin'), { recursive: true, mode: 0o755 });
        await link(path.join(dir, rsync), path.join(dir, 'usr/bin/rsync'));
        files.add('/usr/bin/rsync');
      }
      return { dir, files: [...files] };
    })();
    chrootFiles.set(key, p);
    p.catch(() => chrootFiles.delete(key));
  }
  return p;
}

async function populateRsyncChroot(chroot: string, shell: string, baseParent: string): Promise<void> {
  const cache = await chrootCache(shell, baseParent);
  for (const f of cache.files) {
    const from = path.join(cache.dir, f);
    const dest = path.join(chroot, f);
    await mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
    await link(from, dest).catch(() => copyFile(from, dest).then(() => chmod(dest, 0o755)));
  }
}

async function which(name: string): Promise<string> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir || '.', name);
    try {
      const fh = await open(p, 'r');
      await fh.close();
      return p;
    } catch {
      // next
    }
  }
  throw new Error(`${name} is not installed (apt-get install -y ${name})`);
}

// sshd forks a session process per connection (in its own session, out of our process
// group): stop those first, found through /proc, then the listener itself.
async function stopTree(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (!pid || child.exitCode !== null || child.signalCode !== null) return;
  for (const d of await descendants(pid)) signal(d, 'SIGKILL');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signal(pid, 'SIGTERM');
  const timer = setTimeout(() => signal(pid, 'SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

function killTree(pid: number, base: string): void {
  signal(pid, 'SIGKILL');
  rmSync(base, { recursive: true, force: true });
}

async function descendants(root: number): Promise<number[]> {
  const parentOf = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // comm may hold spaces
      parentOf.set(Number(name), Number(fields[1]));
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const frontier = [root];
  while (frontier.length) {
    const p = frontier.pop() as number;
    for (const [pid, ppid] of parentOf) if (ppid === p) {
      found.push(pid);
      frontier.push(pid);
    }
  }
  return found;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
