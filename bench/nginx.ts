// nginx from Debian as the benchmark's HTTPS server, so the server is never what limits a
// transfer: downloads are static files, uploads (POST, as the action sends them) are read in
// full by a DAV PUT behind an internal proxy hop whose failing rename nginx maps to a JSON 200.
// Started on an address of the caller's choice, optionally inside a network namespace;
// stopped by PID.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { ensureCerts } from '../emulator/certs.ts';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Nginx {
  url: string; // https://host:port
  stop(): Promise<void>;
  errors(): Promise<string>;
}

export async function startNginx(opts: { dir: string; host: string; port: number; certFile: string; keyFile: string; filesDir: string; netns?: string }): Promise<Nginx> {
  const d = opts.dir;
  await mkdir(path.join(d, 'temp'), { recursive: true });
  await mkdir(path.join(d, 'static'), { recursive: true });
  await mkdir(path.join(d, 'putroot'), { recursive: true });
  await writeFile(path.join(d, 'static', 'ok.json'), '{"ok":true}\n');
  const sock = path.join(d, 'put.sock');
  const conf = `user root;
worker_processes 2;
error_log ${d}/error.log;
pid ${d}/nginx.pid;
daemon off;
events { worker_connections 64; }
http {
  access_log off; sendfile on; tcp_nopush on; client_max_body_size 0;
  client_body_temp_path ${d}/temp; proxy_temp_path ${d}/temp; fastcgi_temp_path ${d}/temp; uwsgi_temp_path ${d}/temp; scgi_temp_path ${d}/temp;
  server {
    listen ${opts.host}:${opts.port} ssl;
    ssl_certificate ${opts.certFile}; ssl_certificate_key ${opts.keyFile};
    keepalive_timeout 60s;
    location /files/ { alias ${opts.filesDir}/; }
    # The body streams to the PUT below (no buffering here); its rename into a missing
    # directory fails once the body is read whole (500), which becomes the JSON answer.
    location = /upload {
      client_max_body_size 0;
      proxy_pass http://unix:${sock}:/missing/dump;
      proxy_method PUT; proxy_request_buffering off; proxy_http_version 1.1;
      proxy_intercept_errors on; error_page 500 =200 /ok.json;
    }
    location = /ok.json { root ${d}/static; default_type application/json; }
  }
  server { listen unix:${sock}; location / { root ${d}/putroot; dav_methods PUT; client_max_body_size 0; client_body_buffer_size 1m; } }
}
`;
  const file = path.join(d, 'nginx.conf');
  await writeFile(file, conf);
  const argv = ['-p', d, '-c', file];
  const child: ChildProcess = opts.netns ? spawn('ip', ['netns', 'exec', opts.netns, 'nginx', ...argv], { stdio: 'ignore' }) : spawn('nginx', argv, { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const host = opts.host;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${await readFile(path.join(d, 'error.log'), 'utf8').catch(() => '')}`);
    const up = opts.netns ? await inNetns(opts.netns, host, opts.port) : await connects(host, opts.port);
    if (up) break;
    if (i > 100) throw new Error('nginx did not start listening');
    await sleep(50);
  }
  return {
    url: `https://${host}:${opts.port}`,
    errors: () => readFile(path.join(d, 'error.log'), 'utf8').catch(() => ''),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM'); // `ip netns exec` execs nginx: this PID is the master
      await exited;
    },
  };
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((r) => {
    const c = net.connect(port, host, () => (c.destroy(), r(true)));
    c.on('error', () => r(false));
  });
}

/** Whether the port answers from inside the namespace (the address may only be reachable there). */
async function inNetns(ns: string, host: string, port: number): Promise<boolean> {
  const child = spawn('ip', ['netns', 'exec', ns, 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`], { stdio: 'ignore' });
  return new Promise((r) => child.once('exit', (code) => r(code === 0)));
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A server certificate for 127.0.0.1 signed by the emulator's CA (curl and Node trust that CA file). */
export async function benchCert(dir: string, ips: string[]): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const ca = await ensureCerts();
  await mkdir(dir, { recursive: true });
  const keyFile = path.join(dir, 'server.key');
  const csr = path.join(dir, 'server.csr');
  const certFile = path.join(dir, 'server.pem');
  const ext = path.join(dir, 'ext.cnf');
  await writeFile(ext, `subjectAltName=${['127.0.0.1', ...ips].map((a) => `IP:${a}`).join(',')},DNS:localhost\n`);
  execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', '/CN=bench'], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.caFile, '-CAkey', ca.caKeyFile, '-CAcreateserial', '-CAserial', path.join(dir, 'ca.srl'), '-out', certFile, '-days', '2', '-extfile', ext], { stdio: 'ignore' });
  return { caFile: ca.caFile, certFile, keyFile };
}
