// How much the redaction of platform text costs on adversarial 4 MiB answers (the most callJson
// reads): the whole text (redactAnswer unbounded) versus what messages really use (snippet,
// bounded to a head). Run: node_modules/.bin/node bench/redaction.ts
import { randomBytes } from 'node:crypto';
import { redactAnswer } from '../src/secrets.ts';
import { snippet } from '../src/net/http.ts';

const N = 4 * 1024 * 1024;
const fill = (unit: string) => unit.repeat(Math.ceil(N / unit.length)).slice(0, N);
const inputs: Record<string, string> = {
  random_base64: randomBytes((N * 3) / 4).toString('base64'),
  unclosed_key_quotes: fill('"key": "'),
  key_eq: fill('key='),
  db_paths: fill('/database/a/b/'),
  backslashes: `"token": "${fill('\\')}`,
  dotted: fill('a.'),
  dashed_keys: fill('x-key: '),
  plain: fill('a'),
  json_answer: JSON.stringify({ failures: [], request: { state: 'done', filler: fill('Lorem ipsum dolor sit amet, ') } }),
  html: fill('<p>Maintenance window, please retry later.</p>'),
};
const ms = (f: () => void) => {
  const t = performance.now();
  f();
  return performance.now() - t;
};
for (const [name, text] of Object.entries(inputs)) {
  const whole = ms(() => redactAnswer(text));
  const snip = ms(() => snippet(text));
  console.log(`${name.padEnd(20)} whole text ${whole.toFixed(0).padStart(6)} ms   snippet ${snip.toFixed(1).padStart(6)} ms`);
}
