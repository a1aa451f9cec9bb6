// The release workflow's checks on a tag, and the notes of its GitHub release:
//   node scripts/release-notes.ts v1.2.3 [notes-file]
// fails unless the tag is vMAJOR.MINOR.PATCH (optionally -prerelease), package.json carries the
// same version, and CHANGELOG.md has a non-empty section "## [MAJOR.MINOR.PATCH]"; writes that
// section to notes-file (stdout without one) and, under Actions, the outputs `version`, `major`
// and `prerelease` (a prerelease never moves the major tag).
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ReleaseTag {
  version: string; // 1.2.3 or 1.2.3-rc.1
  major: string; // v1
  prerelease: boolean;
}

const TAG = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

export function parseReleaseTag(tag: string): ReleaseTag {
  const m = TAG.exec(tag);
  if (!m) throw new Error(`Tag "${tag}" is not a release tag: expected vMAJOR.MINOR.PATCH, e.g. v1.2.3 (or v1.2.3-rc.1 for a prerelease).`);
  return { version: tag.slice(1), major: `v${m[1]}`, prerelease: m[4] !== undefined };
}

/** The body of CHANGELOG.md's section for `version` (without its heading), trimmed. */
export function changelogSection(changelog: string, version: string): string {
  const lines = changelog.split(/\r?\n/);
  const heading = (l: string) => /^## /.test(l);
  const start = lines.findIndex((l) => heading(l) && l.slice(3).trim().replace(/^\[([^\]]+)\].*$/, '$1') === version);
  if (start < 0) throw new Error(`CHANGELOG.md has no section "## [${version}]": add one (keep-a-changelog style) before tagging v${version}.`);
  let end = lines.findIndex((l, i) => i > start && heading(l));
  if (end < 0) end = lines.length;
  // Link references ("[1.0.0]: https://...") at the end belong to the whole file, not the section.
  const body = lines.slice(start + 1, end).filter((l) => !/^\[[^\]]+\]:\s+\S+/.test(l)).join('\n').trim();
  if (!/^[-*] \S/m.test(body)) throw new Error(`CHANGELOG.md's section for ${version} lists no change: write what the release adds, changes or fixes.`);
  return body;
}

async function main(): Promise<void> {
  const [tag, out] = process.argv.slice(2);
  if (!tag) throw new Error('usage: node scripts/release-notes.ts <tag, e.g. v1.2.3> [notes-file]');
  const root = path.resolve(import.meta.dirname, '..');
  const release = parseReleaseTag(tag);
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version?: string };
  if (pkg.version !== release.version) throw new Error(`Tag ${tag} does not match package.json's version ${pkg.version}: set "version": "${release.version}" and tag again.`);
  const notes = changelogSection(await readFile(path.join(root, 'CHANGELOG.md'), 'utf8'), release.version);
  if (out) await writeFile(out, `${notes}\n`, 'utf8');
  else process.stdout.write(`${notes}\n`);
  if (process.env.GITHUB_OUTPUT) {
    await appendFile(process.env.GITHUB_OUTPUT, `version=${release.version}\nmajor=${release.major}\nprerelease=${release.prerelease}\n`, 'utf8');
  }
}

if (import.meta.filename === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  });
}
