// Runs the emulators until SIGINT/SIGTERM (`npm run emulator -- ...`): both protocols by
// default, the v1 API and the protocol of Odoo's own upgrade script (rpc), or one of them:
//   node emulator/cli.ts [--rpc | --v1] [--no-postgres] [--cert-dir DIR] [--quiet]
//     v1:  [--tls] [--port N] [--host H] [--outcome done|delivered|failed|cancelled|invalid]
//          [--customer-message TEXT] [--pending-ms N] [--processing-ms N] [--testing-ms N] [--slow-ms N]
//          [--v1-missing] [--cut-upload-after N] [--cut-download-after N] [--data-dir DIR]
//     rpc: [--rpc-port N] [--rpc-outcome done|failed|cancelled] [--rpc-reason TEXT] [--rpc-pending-ms N] [--rpc-progress-ms N]
// Prints on stdout what a client needs (the v1 platform URL; for rpc the environment Odoo's
// script reads: UPGRADE_SERVER_NAME, SSL_VERIFICATION=0 or SSL_CERT_FILE); logs go to stderr.
import { parseArgs } from 'node:util';
import { startEmulator, type Emulator, type Scenario } from './server.ts';
import { startRpcEmulator, type RpcEmulator, type RpcOutcome } from './rpc.ts';

const OUTCOMES = ['done', 'delivered', 'failed', 'cancelled', 'invalid'];
const RPC_OUTCOMES = ['done', 'failed', 'cancelled'];

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new Error(`--${name} takes a whole number, not "${v}"`);
  return Number(v);
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      tls: { type: 'boolean' },
      port: { type: 'string' },
      host: { type: 'string' },
      outcome: { type: 'string' },
      'customer-message': { type: 'string' },
      'pending-ms': { type: 'string' },
      'processing-ms': { type: 'string' },
      'testing-ms': { type: 'string' },
      'slow-ms': { type: 'string' },
      'v1-missing': { type: 'boolean' },
      'cut-upload-after': { type: 'string' },
      'cut-download-after': { type: 'string' },
      'cert-dir': { type: 'string' },
      'data-dir': { type: 'string' },
      quiet: { type: 'boolean' },
      rpc: { type: 'boolean' },
      v1: { type: 'boolean' },
      'no-postgres': { type: 'boolean' },
      'rpc-outcome': { type: 'string' },
      'rpc-reason': { type: 'string' },
      'rpc-pending-ms': { type: 'string' },
      'rpc-progress-ms': { type: 'string' },
      'rpc-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (a.help) {
    process.stdout.write('usage: npm run emulator -- [--rpc | --v1] [--tls] [--port N] [--outcome ...] [--rpc-outcome done|failed|cancelled] ...\n(see the header of emulator/cli.ts)\n');
    return;
  }
  if (a.rpc && a.v1) throw new Error('--rpc and --v1 each serve one protocol: give one of them, or neither for both');
  if (a['rpc-outcome'] && !RPC_OUTCOMES.includes(a['rpc-outcome'])) throw new Error(`--rpc-outcome must be one of ${RPC_OUTCOMES.join(', ')}`);
  if (a.outcome && !OUTCOMES.includes(a.outcome)) throw new Error(`--outcome must be one of ${OUTCOMES.join(', ')}`);
  const scenario: Scenario = {
    outcome: a.outcome as Scenario['outcome'],
    customerMessage: a['customer-message'],
    slowMs: num('slow-ms', a['slow-ms']),
    v1Missing: a['v1-missing'],
    cutUploadAfterBytes: num('cut-upload-after', a['cut-upload-after']),
    cutDownloadAfterBytes: num('cut-download-after', a['cut-download-after']),
  };
  for (const k of Object.keys(scenario) as Array<keyof Scenario>) if (scenario[k] === undefined) delete scenario[k];
  const timing = {
    pendingMs: num('pending-ms', a['pending-ms']),
    processingMs: num('processing-ms', a['processing-ms']),
    testingMs: num('testing-ms', a['testing-ms']),
  };
  for (const k of Object.keys(timing) as Array<keyof typeof timing>) if (timing[k] === undefined) delete timing[k];

  const rpcTiming = {
    pendingMs: num('rpc-pending-ms', a['rpc-pending-ms']) ?? 5_000,
    progressMs: num('rpc-progress-ms', a['rpc-progress-ms']) ?? 20_000,
  };
  const postgres = !a['no-postgres'];
  const say = (line: string) => process.stdout.write(`${line}\n`);

  let emu: Emulator | undefined;
  let rpc: RpcEmulator | undefined;
  if (!a.rpc) {
    emu = await startEmulator({
      tls: a.tls,
      port: num('port', a.port),
      host: a.host,
      certDir: a['cert-dir'],
      dataDir: a['data-dir'],
      timing,
      scenario,
      postgres,
      log: a.quiet ? undefined : (line) => process.stderr.write(`[emulator] ${line}\n`),
    });
    say(emu.url);
    say(`Database Upgrade API v1: platform-url ${emu.url}`);
    if (emu.caFile) say(`CA file: ${emu.caFile} (NODE_EXTRA_CA_CERTS=${emu.caFile})`);
  }
  if (!a.v1) {
    rpc = await startRpcEmulator({
      tls: true, // Odoo's script only speaks https to the node
      certDir: a['cert-dir'],
      entryPort: num('rpc-port', a['rpc-port']),
      timing: rpcTiming,
      postgres,
      scenario: { ...(a['rpc-outcome'] ? { outcome: a['rpc-outcome'] as RpcOutcome } : {}), ...(a['rpc-reason'] ? { reason: a['rpc-reason'] } : {}) },
      log: a.quiet ? undefined : (line) => process.stderr.write(`[emulator rpc] ${line}\n`),
    });
    say('');
    say(`Protocol of Odoo's upgrade script (rpc): main server ${rpc.url}, node ${rpc.nodeUrl} (host_uri ${rpc.hostUri})`);
    say('Point Odoo\'s own script at it (any contract code works, e.g. M-emulator; one containing "invalid" is refused):');
    say(`  export UPGRADE_SERVER_NAME=${rpc.url}`);
    say(`  export SSL_VERIFICATION=0    # or keep verification and trust the emulator's CA: export SSL_CERT_FILE=${rpc.caFile}`);
    say('  python3 <(curl -s https://upgrade.odoo.com/upgrade) test -d <your database> -t 18.0 --contract M-emulator');
    say(`The action: platform-url ${rpc.url} with api: rpc and NODE_EXTRA_CA_CERTS=${rpc.caFile}`);
    if (rpc.hostUri.includes(':')) say('Note: the node could not listen on port 443 (run as root): host_uri carries a port, which Odoo\'s script cannot use unchanged.');
    if (process.getuid?.() !== 0) say('Note: the data servers (sshd chrooted as user odoo) need root: transfers fail without it.');
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`[emulator] ${signal}: stopping\n`);
    Promise.all([emu?.close(), rpc?.close()]).then(() => process.exit(0), (err) => {
      process.stderr.write(`[emulator] close failed: ${(err as Error).message}\n`);
      process.exit(1);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`emulator: ${(err as Error).message}\n`);
  process.exit(2);
});
