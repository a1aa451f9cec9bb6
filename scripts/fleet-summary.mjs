#!/usr/bin/env node
// The fleet recipe's two small jobs (examples/fleet-weekly.yml), in plain JavaScript with no
// dependency so that it runs on any runner's Node (18 or later):
//
//   node fleet-summary.mjs matrix  <databases.json>
//     checks the list of databases and writes it, as one line of JSON, to the output
//     `databases` (GITHUB_OUTPUT; stdout without it): the upgrade job's dynamic matrix.
//
//   node fleet-summary.mjs summary <databases.json> <records-dir> [--prefix fleet-result-]
//     reads each database's result record (<records-dir>/<prefix><name>/odoo-upgrade-result.json,
//     as actions/download-artifact lays out the artifacts matched by a pattern), writes one
//     table (database, state, request, duration, upgraded size, link) to the job summary
//     (GITHUB_STEP_SUMMARY) and stdout, and exits 1 when any database failed or has no record.
import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RECORD = 'odoo-upgrade-result.json';
const SOURCES = ['dump-database-secret', 'dump-url'];
const KEYS = ['name', 'target', ...SOURCES];
const MAX_DATABASES = 256; // GitHub's limit of jobs in one matrix

class UsageError extends Error {}

/** The databases of the file, checked; throws one error listing every problem. */
export function parseDatabases(text, file = 'databases.json') {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not JSON: ${err.message}`);
  }
  const list = Array.isArray(doc) ? doc : doc?.databases;
  if (!Array.isArray(list)) throw new UsageError(`${file} must hold {"databases": [...]} (or the list itself).`);
  if (list.length === 0) throw new UsageError(`${file} lists no database.`);
  if (list.length > MAX_DATABASES) throw new UsageError(`${file} lists ${list.length} databases; one matrix runs at most ${MAX_DATABASES} jobs.`);
  const problems = [];
  const seen = new Set();
  list.forEach((d, i) => {
    const where = `${file}: database ${i + 1}${typeof d?.name === 'string' ? ` ("${d.name}")` : ''}`;
    if (!d || typeof d !== 'object' || Array.isArray(d)) return problems.push(`${where} is not an object`);
    for (const k of Object.keys(d)) if (!KEYS.includes(k)) problems.push(`${where}: unknown key "${k}" (allowed: ${KEYS.join(', ')})`);
    // The name becomes part of artifact and folder names: keep it to what both accept.
    if (typeof d.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(d.name)) {
      problems.push(`${where}: "name" must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit`);
    } else if (seen.has(d.name.toLowerCase())) {
      problems.push(`${where}: the name is used twice (names are compared without case, as artifact names are)`);
    } else seen.add(d.name.toLowerCase());
    if (typeof d.target !== 'string' || !/^(saas~)?\d{1,2}\.\d+$/.test(d.target)) problems.push(`${where}: "target" must be an Odoo version such as "18.0" or "saas~18.2"`);
    const given = SOURCES.filter((k) => d[k] !== undefined);
    if (given.length !== 1) problems.push(`${where}: give exactly one dump source of ${SOURCES.join(', ')} (got ${given.length ? given.join(' and ') : 'none'})`);
    const secret = d['dump-database-secret'];
    if (secret !== undefined && (typeof secret !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(secret) || /^GITHUB_/i.test(secret))) {
      problems.push(`${where}: "dump-database-secret" is the NAME of a repository secret holding the connection string (letters, digits, "_"; not GITHUB_...), never the connection string itself`);
    }
    const url = d['dump-url'];
    if (url !== undefined && (typeof url !== 'string' || !/^https:\/\/[^\s]+$/.test(url))) problems.push(`${where}: "dump-url" must be an https:// URL`);
    else if (typeof url === 'string' && /[?&](sig|signature|token|key|x-amz-signature)=/i.test(url)) {
      problems.push(`${where}: "dump-url" carries a credential in its query string; a committed file is no place for it (keep such links in a secret)`);
    }
  });
  if (problems.length) throw new UsageError(problems.join('\n'));
  return list.map((d) => Object.fromEntries(KEYS.filter((k) => d[k] !== undefined).map((k) => [k, d[k]])));
}

function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${String(m).padStart(2, '0')} min` : m ? `${m} min ${String(s % 60).padStart(2, '0')} s` : `${s} s`;
}

function size(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** Text from a record for a table cell: no line breaks, no pipes, no markup. */
function cell(value) {
  return String(value ?? '').replace(/[\r\n]+/g, ' ').replace(/[|\\`*_<>[\]]/g, (c) => `\\${c}`).slice(0, 200) || '—';
}

/** One row per database of the file; `records` maps a name to its parsed record, or to why there is none. */
export function summarize(databases, records, env = {}) {
  const server = (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '');
  const rows = databases.map((d) => {
    const r = records.get(d.name);
    if (!r || typeof r === 'string') {
      return { name: d.name, ok: false, state: 'no result', request: '—', duration: '—', size: '—', link: '—', why: typeof r === 'string' ? r : `no ${RECORD}` };
    }
    const ok = r.phase === 'success';
    const seconds = (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000;
    const repo = typeof r.repository === 'string' && /^[\w.-]+\/[\w.-]+$/.test(r.repository) ? r.repository : env.GITHUB_REPOSITORY;
    const runId = Number.isSafeInteger(r.runId) ? r.runId : undefined;
    return {
      name: d.name,
      ok,
      state: r.state || (ok ? 'done' : 'failed'),
      request: r.requestId || '—',
      duration: duration(seconds),
      size: size(Number(r.upgradedBytes ?? Number.NaN)),
      link: repo && runId !== undefined ? `[run ${runId}](${server}/${repo}/actions/runs/${runId})` : '—',
      why: ok ? '' : r.message || `ended in state ${r.state || 'unknown'}`,
    };
  });
  const failed = rows.filter((r) => !r.ok);
  const lines = [
    `### Odoo upgrade fleet: ${rows.length - failed.length} of ${rows.length} upgraded`,
    '',
    '| | Database | State | Request | Duration | Upgraded size | Link |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.ok ? '✅' : '❌'} | ${cell(r.name)} | ${cell(r.state)} | ${cell(r.request)} | ${r.duration} | ${r.size} | ${r.link} |`),
  ];
  if (failed.length) lines.push('', ...failed.map((r) => `- **${cell(r.name)}**: ${cell(r.why)}`));
  return { markdown: `${lines.join('\n')}\n`, failed: failed.map((r) => r.name) };
}

/** Reads <dir>/<prefix><name>/odoo-upgrade-result.json for each database. */
export async function readRecords(databases, dir, prefix) {
  const records = new Map();
  for (const d of databases) {
    const file = path.join(dir, `${prefix}${d.name}`, RECORD);
    let text;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      records.set(d.name, `no ${RECORD} in artifact "${prefix}${d.name}" (the job did not get as far as storing it: see its log)`);
      continue;
    }
    try {
      const r = JSON.parse(text);
      if (!r || typeof r !== 'object' || r.tool !== 'odoo-upgrade-action') throw new Error('not a result record');
      records.set(d.name, r);
    } catch (err) {
      records.set(d.name, `${RECORD} of "${d.name}" is unreadable (${err.message})`);
    }
  }
  return records;
}

async function main(argv, env) {
  const [command, file, dir, ...rest] = argv;
  if (command === 'matrix' && file) {
    const databases = parseDatabases(await readFile(file, 'utf8'), file);
    const line = JSON.stringify(databases);
    if (env.GITHUB_OUTPUT) await appendFile(env.GITHUB_OUTPUT, `databases=${line}\n`, 'utf8');
    else process.stdout.write(`${line}\n`);
    process.stderr.write(`${databases.length} database${databases.length === 1 ? '' : 's'}: ${databases.map((d) => d.name).join(', ')}\n`);
    return 0;
  }
  if (command === 'summary' && file && dir) {
    const at = rest.indexOf('--prefix');
    const prefix = at >= 0 ? (rest[at + 1] ?? '') : 'fleet-result-';
    const databases = parseDatabases(await readFile(file, 'utf8'), file);
    const { markdown, failed } = summarize(databases, await readRecords(databases, dir, prefix), env);
    process.stdout.write(markdown);
    if (env.GITHUB_STEP_SUMMARY) await appendFile(env.GITHUB_STEP_SUMMARY, markdown, 'utf8');
    if (failed.length) {
      process.stderr.write(`${failed.length} of ${databases.length} upgrades failed: ${failed.join(', ')}\n`);
      return 1;
    }
    return 0;
  }
  throw new UsageError('usage: fleet-summary.mjs matrix <databases.json> | summary <databases.json> <records-dir> [--prefix fleet-result-]');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    },
  );
}
