// Runs the emulator until SIGINT/SIGTERM:
//   node emulator/cli.ts [--tls] [--port N] [--host H] [--outcome done|delivered|failed|cancelled|invalid]
//     [--customer-message TEXT] [--pending-ms N] [--processing-ms N] [--testing-ms N] [--slow-ms N]
//     [--v1-missing] [--cut-upload-after N] [--cut-download-after N] [--cert-dir DIR] [--data-dir DIR] [--quiet]
// Prints the platform URL (and the CA file with --tls) on stdout; logs go to stderr.
import { parseArgs } from 'node:util';
import { startEmulator, type Scenario } from './server.ts';

const OUTCOMES = ['done', 'delivered', 'failed', 'cancelled', 'invalid'];

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
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (a.help) {
    process.stdout.write('usage: node emulator/cli.ts [--tls] [--port N] [--outcome done|delivered|failed|cancelled|invalid] ...\n(see the header of emulator/cli.ts)\n');
    return;
  }
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

  const emu = await startEmulator({
    tls: a.tls,
    port: num('port', a.port),
    host: a.host,
    certDir: a['cert-dir'],
    dataDir: a['data-dir'],
    timing,
    scenario,
    log: a.quiet ? undefined : (line) => process.stderr.write(`[emulator] ${line}\n`),
  });
  process.stdout.write(`${emu.url}\n`);
  if (emu.caFile) process.stdout.write(`CA file: ${emu.caFile} (NODE_EXTRA_CA_CERTS=${emu.caFile})\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`[emulator] ${signal}: stopping\n`);
    emu.close().then(() => process.exit(0), (err) => {
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
