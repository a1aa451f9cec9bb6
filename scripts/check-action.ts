// Checks action.yml as the runner and the Marketplace read it: `node scripts/check-action.ts [file]`
// prints each problem and exits 1 when there is one. Used by the release workflow and the tests.
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDocument } from 'yaml';

const TOP_KEYS = ['name', 'description', 'author', 'branding', 'inputs', 'outputs', 'runs'];
const INPUT_KEYS = ['description', 'required', 'default', 'deprecationMessage'];
const OUTPUT_KEYS = ['description'];
const RUNS_KEYS = ['using', 'main', 'pre', 'pre-if', 'post', 'post-if'];
// The Marketplace's colours; its icons are Feather's, which are too many to list here.
const COLORS = ['white', 'black', 'yellow', 'blue', 'green', 'orange', 'red', 'purple', 'gray-dark'];
const NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/;
export const RUNTIME = 'node24';

type Map = Record<string, unknown>;
const isMap = (v: unknown): v is Map => !!v && typeof v === 'object' && !Array.isArray(v);
const text = (v: unknown): boolean => typeof v === 'string' && v.trim() !== '';

/** Problems in an action.yml's text; `exists` says whether a path (relative to the action's folder) is there. */
export async function checkActionManifest(source: string, exists: (rel: string) => Promise<boolean>): Promise<string[]> {
  const problems: string[] = [];
  const doc = parseDocument(source, { uniqueKeys: true });
  if (doc.errors.length) return doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`);
  const a: unknown = doc.toJS();
  if (!isMap(a)) return ['action.yml is not a map'];
  for (const k of Object.keys(a)) if (!TOP_KEYS.includes(k)) problems.push(`unknown top-level key "${k}"`);
  for (const k of ['name', 'description']) if (!text(a[k])) problems.push(`"${k}" is missing or empty`);
  if (a.branding !== undefined) {
    if (!isMap(a.branding) || !text(a.branding.icon)) problems.push('branding needs an icon');
    else if (!COLORS.includes(String(a.branding.color))) problems.push(`branding color "${String(a.branding.color)}" is not one of ${COLORS.join(', ')}`);
  }
  const section = (key: 'inputs' | 'outputs', allowed: string[]) => {
    const s = a[key];
    if (s === undefined) return;
    if (!isMap(s)) return void problems.push(`"${key}" is not a map`);
    for (const [name, spec] of Object.entries(s)) {
      const where = `${key.slice(0, -1)} "${name}"`;
      if (!NAME.test(name)) problems.push(`${where}: not a kebab-case name`);
      if (!isMap(spec)) {
        problems.push(`${where}: not a map`);
        continue;
      }
      for (const k of Object.keys(spec)) if (!allowed.includes(k)) problems.push(`${where}: unknown key "${k}"`);
      if (!text(spec.description)) problems.push(`${where}: no description`);
      if (spec.required !== undefined && typeof spec.required !== 'boolean') problems.push(`${where}: "required" must be true or false`);
      if (spec.default !== undefined && typeof spec.default !== 'string') {
        problems.push(`${where}: default ${JSON.stringify(spec.default)} is not a string (quote it: the runner passes every input as text)`);
      }
      if (spec.required === true && spec.default !== undefined) problems.push(`${where}: required and with a default`);
    }
  };
  section('inputs', INPUT_KEYS);
  section('outputs', OUTPUT_KEYS);
  const runs = a.runs;
  if (!isMap(runs)) return [...problems, 'no "runs"'];
  for (const k of Object.keys(runs)) if (!RUNS_KEYS.includes(k)) problems.push(`runs: unknown key "${k}"`);
  if (runs.using !== RUNTIME) problems.push(`runs.using is "${String(runs.using)}", not ${RUNTIME}`);
  if (!text(runs.main)) problems.push('runs.main is missing');
  for (const k of ['main', 'pre', 'post'] as const) {
    const file = runs[k];
    if (file === undefined) continue;
    if (!text(file) || path.isAbsolute(String(file)) || String(file).split(/[\\/]/).includes('..')) problems.push(`runs.${k}: "${String(file)}" is not a path inside the action`);
    else if (!(await exists(String(file)))) problems.push(`runs.${k}: ${String(file)} does not exist (run npm run build)`);
  }
  for (const k of ['pre', 'post'] as const) if (runs[`${k}-if`] !== undefined && runs[k] === undefined) problems.push(`runs.${k}-if without runs.${k}`);
  return problems;
}

async function main(): Promise<void> {
  const file = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '..', 'action.yml'));
  const dir = path.dirname(file);
  const problems = await checkActionManifest(await readFile(file, 'utf8'), (rel) =>
    access(path.join(dir, rel)).then(
      () => true,
      () => false,
    ),
  );
  for (const p of problems) process.stderr.write(`${path.basename(file)}: ${p}\n`);
  if (problems.length) process.exit(1);
  process.stdout.write(`${path.basename(file)} is valid.\n`);
}

if (import.meta.filename === process.argv[1]) await main();
