// npm run demo: the bundled action, run as a runner runs it, against the built-in emulator
// (HTTPS with its own CA) and the local fake of GitHub's artifact service, with a sample dump.
import { mkdir, rm, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startEmulator } from '../emulator/server.ts';
import { startGitHubFake } from '../emulator/github.ts';
import { runAction, ROOT } from '../__tests__/support/action.ts';
import { writeSampleSqlDump } from '../__tests__/support/sample-dump.ts';

const demoDir = path.join(ROOT, '.demo');
await rm(demoDir, { recursive: true, force: true });
await mkdir(demoDir, { recursive: true });
const dump = path.join(demoDir, 'sample-odoo16.sql');
await writeSampleSqlDump(dump, 50_000);

const emu = await startEmulator({ tls: true, timing: { pendingMs: 1000, processingMs: 2000, testingMs: 1500 } });
const gh = await startGitHubFake();
console.log(`Emulator of the Upgrade Platform: ${emu.url} (CA ${emu.caFile})`);
console.log(`Fake GitHub artifact service:      ${gh.url}`);
console.log(`Sample dump:                       ${dump}\n`);
console.log('Running dist/index.js as a runner would (inputs as INPUT_* variables)...\n');
try {
  const outputDir = path.join(demoDir, 'upgraded');
  const run = await runAction({
    inputs: {
      contract: 'M000000-demo',
      email: 'demo@example.com',
      target: '18.0',
      dump,
      'platform-url': emu.url,
      'poll-interval': '1',
      'output-dir': outputDir,
    },
    env: { ...gh.env, NODE_EXTRA_CA_CERTS: emu.caFile! },
    timeoutMs: 120_000,
  });
  process.stdout.write(run.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::') && !l.startsWith('::debug::')).join('\n'));
  process.stderr.write(run.stderr);
  const summaryFile = path.join(demoDir, 'summary.md');
  await writeFile(summaryFile, run.summary);
  const artifact = gh.artifacts.find((a) => String(a.id) === run.outputs['artifact-id']);
  let artifactZip = '';
  if (artifact) {
    artifactZip = path.join(demoDir, `${artifact.name}.zip`);
    await writeFile(artifactZip, await readFile(artifact.zipPath));
  }
  await run.cleanup();
  console.log('\n----------------------------------------------------------------');
  console.log(run.code === 0 ? 'The upgrade went through.' : `The action failed (exit code ${run.code}).`);
  console.log(`  request-id:     ${run.outputs['request-id'] ?? '-'}   state: ${run.outputs.state ?? '-'}`);
  console.log(`  upgraded dump:  ${run.outputs['upgraded-dump'] ?? '-'}`);
  console.log(`  notes:          ${run.outputs.notes ?? '-'}`);
  console.log(`  job summary:    ${summaryFile}`);
  if (artifact) console.log(`  artifact:       "${artifact.name}" (id ${artifact.id}), copied to ${artifactZip}`);
  process.exitCode = run.code ?? 1;
} finally {
  await emu.close();
  await gh.close();
}
