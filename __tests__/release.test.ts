// Releases: the tag, package.json and CHANGELOG.md checks of the release workflow, and the
// action.yml checker, on the repository's real files and on planted mistakes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseReleaseTag, changelogSection } from '../scripts/release-notes.ts';
import { checkActionManifest } from '../scripts/check-action.ts';
import { ROOT } from './support/action.ts';

const run = promisify(execFile);
const exists = (names: string[]) => async (rel: string) => names.includes(rel);

test('release tags: vMAJOR.MINOR.PATCH, prereleases told apart, anything else refused', () => {
  assert.deepEqual(parseReleaseTag('v1.0.0'), { version: '1.0.0', major: 'v1', prerelease: false });
  assert.deepEqual(parseReleaseTag('v12.3.40'), { version: '12.3.40', major: 'v12', prerelease: false });
  assert.deepEqual(parseReleaseTag('v1.3.0-rc.1'), { version: '1.3.0-rc.1', major: 'v1', prerelease: true });
  for (const bad of ['1.0.0', 'v1', 'v1.0', 'v01.0.0', 'v1.0.0.0', 'v1.0.0-', 'v1.0.0-rc..1', 'v1.0.0 ', 'release-1.0.0']) {
    assert.throws(() => parseReleaseTag(bad), /not a release tag/, bad);
  }
});

test('the changelog section of a version, without its heading or the link references', () => {
  const log = [
    '# Changelog',
    '## [Unreleased]',
    '- coming',
    '## [1.1.0] - 2026-12-24',
    '### Added',
    '- input `x`',
    '',
    '## [1.0.0] - 2026-12-04',
    '### Added',
    '- first',
    '',
    '[1.1.0]: https://example.com/compare/v1.0.0...v1.1.0',
  ].join('\n');
  assert.equal(changelogSection(log, '1.1.0'), '### Added\n- input `x`');
  assert.equal(changelogSection(log, '1.0.0'), '### Added\n- first');
  assert.throws(() => changelogSection(log, '1.2.0'), /no section "## \[1\.2\.0\]"/);
  assert.throws(() => changelogSection('## [2.0.0]\n### Added\n\n## [1.0.0]\n- x', '2.0.0'), /lists no change/);
});

test('the repository is releasable as it stands: CHANGELOG.md has package.json\'s version', async () => {
  const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const dir = await mkdtemp(path.join(tmpdir(), 'release-'));
  try {
    const out = path.join(dir, 'output');
    await writeFile(out, '');
    const notes = path.join(dir, 'notes.md');
    await run(process.execPath, [path.join(ROOT, 'scripts', 'release-notes.ts'), `v${pkg.version}`, notes], { env: { ...process.env, GITHUB_OUTPUT: out } });
    const body = await readFile(notes, 'utf8');
    assert.match(body, /^### Added$/m);
    assert.doesNotMatch(body, /^## /m, 'only the section, not its heading or the next one');
    assert.equal(await readFile(out, 'utf8'), `version=${pkg.version}\nmajor=v${pkg.version.split('.')[0]}\nprerelease=false\n`);
    // A tag that does not match package.json is refused, naming both.
    const err = await run(process.execPath, [path.join(ROOT, 'scripts', 'release-notes.ts'), 'v9.9.9'], { env: { ...process.env, GITHUB_OUTPUT: '' } }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(err?.code, 1);
    assert.match(err.stderr, new RegExp(`v9\\.9\\.9 does not match package\\.json's version ${pkg.version.replace(/\./g, '\\.')}`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('action.yml is valid: node24, main and post built, every input and output described', async () => {
  const { stdout } = await run(process.execPath, [path.join(ROOT, 'scripts', 'check-action.ts')]);
  assert.match(stdout, /action\.yml is valid/);
});

test('the action.yml checker finds each planted mistake', async () => {
  const good = [
    'name: X',
    'description: Does x.',
    'branding:',
    '  icon: arrow-up-circle',
    '  color: purple',
    'inputs:',
    '  some-input:',
    '    description: An input.',
    '    default: \'1\'',
    'outputs:',
    '  some-output:',
    '    description: An output.',
    'runs:',
    '  using: node24',
    '  main: dist/index.js',
    '  post: dist/post/index.js',
    '  post-if: always()',
  ].join('\n');
  const files = exists(['dist/index.js', 'dist/post/index.js']);
  assert.deepEqual(await checkActionManifest(good, files), []);
  const cases: Array<[string, string, RegExp]> = [
    ['runs.using', good.replace('node24', 'node20'), /runs\.using is "node20", not node24/],
    ['main missing', good, /runs\.main: dist\/index\.js does not exist/],
    ['no input description', good.replace('    description: An input.\n', ''), /input "some-input": no description/],
    ['no output description', good.replace('    description: An output.', '    value: x'), /output "some-output": no description/],
    ['unquoted colon', good.replace('An input.', 'one `Name: value` a line'), /^YAML: /],
    ['number default', good.replace("default: '1'", 'default: 1'), /default 1 is not a string/],
    ['duplicate key', good.replace("    default: '1'", "    default: '1'\n  some-input:\n    description: again"), /^YAML: Map keys must be unique/],
    ['bad colour', good.replace('purple', 'violet'), /branding color "violet"/],
    ['no name', good.replace('name: X\n', ''), /"name" is missing/],
    ['path outside', good.replace('dist/post/index.js', '../evil.js'), /runs\.post: "\.\.\/evil\.js" is not a path inside the action/],
    ['camelCase input', good.replace('some-input', 'someInput'), /input "someInput": not a kebab-case name/],
    ['unknown top key', `${good}\nrun: x`, /unknown top-level key "run"/],
  ];
  for (const [what, text, want] of cases) {
    const problems = await checkActionManifest(text, what === 'main missing' ? exists(['dist/post/index.js']) : files);
    assert.ok(problems.some((p) => want.test(p)), `${what}: ${want} in ${JSON.stringify(problems)}`);
  }
});

test('the workflow\'s own "move the major tag" script, on a real git origin: moves v1 forward, never back', async () => {
  const { parse } = await import('yaml');
  const wf = parse(await readFile(path.join(ROOT, '.github', 'workflows', 'release.yml'), 'utf8')) as {
    jobs: Record<string, { steps: Array<{ run?: string; env?: Record<string, string> }> }>;
  };
  const move = Object.values(wf.jobs).flatMap((j) => j.steps).find((s) => s.run?.includes('git push -f origin'));
  assert.ok(move?.run);
  const dir = await mkdtemp(path.join(tmpdir(), 'release-tags-'));
  const git = (cwd: string, ...args: string[]) => run('git', args, { cwd, env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } });
  try {
    const origin = path.join(dir, 'origin.git');
    const work = path.join(dir, 'work');
    await git(dir, 'init', '-q', '--bare', origin);
    await git(dir, 'init', '-q', work);
    const commits: Record<string, string> = {};
    for (const tag of ['v1.0.0', 'v1.1.0', 'v1.0.5', 'v1.2.0']) {
      await git(work, 'commit', '-q', '--allow-empty', '-m', tag);
      await git(work, 'tag', tag);
      commits[tag] = (await git(work, 'rev-parse', 'HEAD')).stdout.trim();
    }
    await git(work, 'remote', 'add', 'origin', origin);
    await git(work, 'push', '-q', 'origin', 'refs/tags/v1.0.0', 'refs/tags/v1.1.0');
    const release = async (tag: string) => {
      await git(work, 'push', '-q', 'origin', `refs/tags/${tag}`);
      const clone = path.join(dir, `clone-${tag}`);
      await git(dir, 'clone', '-q', '--depth', '1', '--branch', tag, `file://${origin}`, clone);
      const summary = path.join(dir, `summary-${tag}`);
      await writeFile(summary, '');
      await run('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', move.run!], {
        cwd: clone,
        env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', MAJOR: 'v1', GITHUB_REF_NAME: tag, GITHUB_STEP_SUMMARY: summary },
      });
      return { v1: (await git(dir, '--git-dir', origin, 'rev-parse', 'v1^{commit}').catch(() => ({ stdout: '' }))).stdout.trim(), summary: await readFile(summary, 'utf8') };
    };
    assert.equal((await release('v1.1.0')).v1, commits['v1.1.0']);
    const patch = await release('v1.0.5');
    assert.equal(patch.v1, commits['v1.1.0'], 'a patch to an older line leaves v1 where it is');
    assert.match(patch.summary, /v1 stays on v1\.1\.0/);
    const next = await release('v1.2.0');
    assert.equal(next.v1, commits['v1.2.0']);
    assert.match(next.summary, /Moved v1 to v1\.2\.0/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
