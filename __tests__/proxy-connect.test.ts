// A real proxy from Debian (tinyproxy) on loopback: with HTTPS_PROXY set, the action's HTTPS
// calls (platform API, the dump's upload and the upgraded dump's download, a dump-url
// download) go through it as CONNECT tunnels, read from the proxy's own log; a host in
// NO_PROXY goes direct. GitHub's calls (REST through @actions/github, the artifact service
// and its blob store through @actions/artifact) go through it too: @actions/http-client never
// proxies loopback names, so the GitHub fake serves https on 127.0.0.1 but is addressed as
// 0.0.0.0, which Linux delivers to the same loopback listener. The platform runs go through
// the pipeline in-process (the real clients, the proxy variables in process.env, a fake clock for
// the polls); the GitHub one is the bundle's smoke run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { getProxyUrl } from '@actions/http-client';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { startGitHubFake, type GitHubFake } from '../emulator/github.ts';
import { runAction } from './support/action.ts';
import { runPipeline, FakeClock, trustCA, withProcessEnv } from './support/pipeline.ts';
import { startHttpsFiles, type HttpsFiles } from './support/https-files.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';
import { noteSshIgnoresProxy } from '../src/net/dispatch.ts';
import { ensureCerts, issueServerCert } from '../emulator/certs.ts';

const TINYPROXY = '/usr/bin/tinyproxy';
const skip = (await import('node:fs')).existsSync(TINYPROXY) ? false : 'tinyproxy is not installed (apt-get install tinyproxy)';

interface Tinyproxy {
  url: string;
  /** The CONNECT targets ("host:port") the proxy was asked for so far, in order. */
  connects(): Promise<string[]>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** tinyproxy cannot bind port 0: a free port is picked first, and a taken one retried. */
async function startTinyproxy(dir: string): Promise<Tinyproxy> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const log = path.join(dir, `tinyproxy-${port}.log`);
    const conf = path.join(dir, `tinyproxy-${port}.conf`);
    await writeFile(conf, [`Port ${port}`, 'Listen 127.0.0.1', 'Timeout 60', `LogFile "${log}"`, 'LogLevel Connect', 'MaxClients 50', 'DisableViaHeader Yes', ''].join('\n'));
    const child: ChildProcess = spawn(TINYPROXY, ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    // Ready once it accepts a connection (a few tries, a few ms apart).
    let ready = false;
    for (let i = 0; i < 100 && child.exitCode === null && !ready; i++) {
      ready = await new Promise<boolean>((r) => {
        const c = net.connect(port, '127.0.0.1', () => (c.destroy(), r(true)));
        c.on('error', () => r(false));
      });
      if (!ready) await sleep(30);
    }
    if (!ready) {
      child.kill('SIGKILL');
      await exited;
      if (attempt < 3) continue;
      throw new Error(`tinyproxy did not start: ${stderr}`);
    }
    return {
      url: `http://127.0.0.1:${port}`,
      connects: async () =>
        [...(await readFile(log, 'utf8').catch(() => '')).matchAll(/Request \(file descriptor \d+\): CONNECT (\S+) HTTP/g)].map((m) => m[1]),
      stop: async () => {
        if (child.exitCode === null) child.kill('SIGTERM');
        await exited;
      },
    };
  }
}

let dir: string;
let proxy: Tinyproxy;
let emu: Emulator;
let gh: GitHubFake;
let files: HttpsFiles;
let caFile: string;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(path.join(tmpdir(), 'proxy-connect-'));
  proxy = await startTinyproxy(dir);
  // No PostgreSQL: these runs are about the route of the calls, the upgraded dump is a marked copy.
  emu = await startEmulator({ tls: true, postgres: false, timing: { pendingMs: 200, processingMs: 400, testingMs: 300 } });
  gh = await startGitHubFake();
  files = await startHttpsFiles();
  const dump = path.join(dir, 'db.sql');
  await writeSampleSqlDump(dump, 3000);
  files.files.set('db.sql', { body: await readFile(dump) });
  // One trust file for the emulator's CA and the file server's self-signed certificate.
  caFile = path.join(dir, 'ca.pem');
  await writeFile(caFile, `${await readFile(emu.caFile!, 'utf8')}\n${files.ca}\n`);
  await trustCA(caFile);
});

after(async () => {
  if (skip) return;
  await proxy?.stop();
  await emu?.close();
  await gh?.close();
  await files?.close();
  await rm(dir, { recursive: true, force: true });
});

const hostPort = (url: string) => new URL(url).host;

/** The proxy variables go in process.env, where the one dispatcher reads them (as in the bundle). */
async function upgrade(proxyEnv: Record<string, string>) {
  const unset = Object.fromEntries(['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'no_proxy', 'NO_PROXY'].map((k) => [k, undefined]));
  return withProcessEnv({ ...unset, ...proxyEnv }, () =>
    runPipeline({
      inputs: { contract: 'M-proxy-test', email: 'ci@example.com', target: '18.0', 'dump-url': `${files.url}/files/db.sql`, 'platform-url': emu.url, 'poll-interval': '1', 'artifact-name': '' },
      env: { ...gh.env, ...proxyEnv },
      clock: new FakeClock(0.05),
    }),
  );
}

test('HTTPS_PROXY: the platform API, the upload, the upgraded download and the dump-url go through the proxy with CONNECT', { skip }, async () => {
  const before = (await proxy.connects()).length;
  const emuRequests = emu.records.length;
  const run = await upgrade({ HTTPS_PROXY: proxy.url });
  try {
    assert.equal(run.code, 0, run.stdout);
    const tunnels = (await proxy.connects()).slice(before);
    assert.ok(tunnels.includes(hostPort(emu.url)), `a CONNECT to the platform: ${tunnels.join(', ')}`);
    assert.ok(tunnels.includes(hostPort(files.url)), `a CONNECT to the dump-url host: ${tunnels.join(', ')}`);
    assert.deepEqual(
      tunnels.filter((t) => t !== hostPort(emu.url) && t !== hostPort(files.url)),
      [],
      'nothing else was tunnelled (GitHub on loopback is direct for @actions/http-client)',
    );
    const kinds = new Set(emu.records.slice(emuRequests).map((r) => r.method));
    for (const k of ['create', 'upload', 'status']) assert.ok(kinds.has(k), `the platform saw ${k}: ${[...kinds].join(', ')}`);
    assert.ok(run.outputs['upgraded-dump'], 'the upgraded dump was downloaded (through the same tunnel host)');
  } finally {
    await run.cleanup();
  }
});

test('NO_PROXY: a listed host goes direct, the others still through the proxy; http_proxy alone does not serve https', { skip }, async () => {
  let before = (await proxy.connects()).length;
  let run = await upgrade({ https_proxy: proxy.url, no_proxy: `example.invalid, ${hostPort(emu.url)}` });
  try {
    assert.equal(run.code, 0, run.stdout);
    const tunnels = (await proxy.connects()).slice(before);
    assert.ok(!tunnels.includes(hostPort(emu.url)), `the platform is in NO_PROXY: ${tunnels.join(', ')}`);
    assert.ok(tunnels.includes(hostPort(files.url)), `the dump-url host is not: ${tunnels.join(', ')}`);
  } finally {
    await run.cleanup();
  }
  before = (await proxy.connects()).length;
  run = await upgrade({ HTTP_PROXY: proxy.url });
  try {
    assert.equal(run.code, 0, run.stdout);
    assert.deepEqual((await proxy.connects()).slice(before), [], 'HTTP_PROXY is for http:// URLs only (as curl)');
  } finally {
    await run.cleanup();
  }
});

test('GitHub calls (@actions/http-client): https_proxy for a GitHub host, NO_PROXY honoured, loopback always direct', { skip }, () => {
  const saved = { https_proxy: process.env.https_proxy, no_proxy: process.env.no_proxy };
  try {
    process.env.https_proxy = proxy.url;
    process.env.no_proxy = 'ghe.internal.example';
    assert.equal(getProxyUrl('https://api.github.com/repos/o/r/issues/1/comments').replace(/\/$/, ''), proxy.url);
    assert.equal(getProxyUrl('https://results-receiver.actions.githubusercontent.com/twirp/x').replace(/\/$/, ''), proxy.url);
    assert.equal(getProxyUrl('https://api.ghe.internal.example/x'), '');
    assert.equal(getProxyUrl(`${gh.url}/repos/o/r`), '', 'the GitHub fake on 127.0.0.1 is never proxied by that library');
  } finally {
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  }
});

test('SSH transfers say once that they cannot use the HTTP proxy', () => {
  const lines: string[] = [];
  noteSshIgnoresProxy((l) => lines.push(l), {});
  assert.equal(lines.length, 0, 'no proxy, nothing said');
  noteSshIgnoresProxy((l) => lines.push(l), { HTTPS_PROXY: 'http://proxy:3128' });
  noteSshIgnoresProxy((l) => lines.push(l), { HTTPS_PROXY: 'http://proxy:3128' });
  assert.equal(lines.length, 1);
  assert.match(lines[0], /SSH transfers \(SFTP, rsync\) cannot use an HTTP proxy/);
});

test('bundle smoke: HTTPS_PROXY: GitHub REST (an artifact of another run) and the artifact service (publishing) go through the proxy with CONNECT too', { skip }, async () => {
  const ca = await ensureCerts();
  const tlsFake = await startGitHubFake({ tls: await issueServerCert(ca, ['0.0.0.0']), host: '0.0.0.0' });
  try {
    const trust = path.join(dir, 'ca-github.pem');
    await writeFile(trust, `${await readFile(caFile, 'utf8')}\n${await readFile(ca.caFile, 'utf8')}\n`);
    await tlsFake.addArtifact({ runId: 6_000_001, repository: 'octo-org/odoo-project', name: 'prod-dump', files: { 'db.sql': files.files.get('db.sql')!.body } });
    const before = (await proxy.connects()).length;
    const run = await runAction({
      inputs: {
        contract: 'M-proxy-test', email: 'ci@example.com', target: '18.0', 'platform-url': emu.url, 'poll-interval': '1',
        'dump-artifact': 'prod-dump', 'dump-artifact-run-id': '6000001', 'github-token': tlsFake.token, 'artifact-name': 'odoo-upgraded-{stem}-{target}',
      },
      env: { ...tlsFake.env, NODE_EXTRA_CA_CERTS: trust, HTTPS_PROXY: proxy.url },
      timeoutMs: 120_000,
    });
    try {
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.ok(run.outputs['artifact-id'], 'the results were published');
      const tunnels = (await proxy.connects()).slice(before);
      const github = hostPort(tlsFake.url);
      assert.ok(tunnels.includes(github), `a CONNECT to GitHub: ${tunnels.join(', ')}`);
      assert.ok(tunnels.includes(hostPort(emu.url)), `and to the platform: ${tunnels.join(', ')}`);
      const seen = tlsFake.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`);
      assert.ok(seen.some((r) => /^GET \/repos\/.*\/actions\/runs\/6000001\/artifacts/.test(r)), `REST listing through the tunnel: ${seen.join(', ')}`);
      assert.ok(seen.some((r) => /CreateArtifact$/.test(r)) && seen.some((r) => /^PUT \/blob\//.test(r)), `artifact service and blob store through the tunnel: ${seen.join(', ')}`);
    } finally {
      await run.cleanup();
    }
  } finally {
    await tlsFake.close();
  }
});
