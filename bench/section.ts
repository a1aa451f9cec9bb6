// docs/benchmarks.md is written by several benches: run.ts owns the file, each other bench one
// section between its own markers, replaced in place (or appended the first time).
import { readFile, writeFile } from 'node:fs/promises';

export async function writeSection(file: string, begin: string, end: string, text: string): Promise<void> {
  const old = await readFile(file, 'utf8').catch(() => '# Benchmarks\n');
  const a = old.indexOf(begin);
  const b = old.indexOf(end);
  const body = text.startsWith(begin) ? text : `${begin}\n${text}\n${end}`;
  const next = a >= 0 && b > a ? `${old.slice(0, a)}${body}${old.slice(b + end.length)}` : `${old.trimEnd()}\n\n${body}\n`;
  await writeFile(file, next);
}
