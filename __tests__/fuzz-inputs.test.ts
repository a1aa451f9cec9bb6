// Property tests of every input parser: all inputs (readConfig), `env-vars`, `dump-url-headers`,
// sizes and addresses. Any value is either taken or refused with a problem naming its input,
// before any request; long adversarial values finish (each call runs in a worker with a
// watchdog, so a quadratic pattern fails the test instead of freezing it).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { BoundedCaller, type Outcome } from './support/bounded.ts';
import { params } from './support/fuzz.ts';
import { parseSize } from '../src/inputs.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const INPUTS = new URL('../src/inputs.ts', import.meta.url).href;
const URL_SOURCE = new URL('../src/source/url.ts', import.meta.url).href;

const yml = readFileSync(new URL('../action.yml', import.meta.url), 'utf8');
const NAMES = [...yml.slice(yml.indexOf('\ninputs:'), yml.indexOf('\noutputs:')).matchAll(/^ {2}([a-z][a-z0-9-]*):\s*$/gm)].map((m) => m[1]);

const caller = new BoundedCaller();
after(() => caller.close());

const readConfig = (inputs: Record<string, string>): Promise<Outcome> => caller.call(INPUTS, 'readConfig', [inputs, {}], { getter: true });

/** Taken, or an InputError whose every problem names an input in backticks. */
function assertNamed(o: Outcome): void {
  if (o.ok) return;
  assert.equal(o.error?.name, 'InputError', `not an InputError: ${o.error?.name}: ${o.error?.message}`);
  for (const p of o.error!.problems ?? []) assert.ok(NAMES.some((n) => p.includes(`\`${n}\``)), `a problem that names no input: ${p}`);
}

const valid: Record<string, string> = { contract: 'M1234', email: 'ops@example.com', target: '18.0', dump: 'db.dump' };

// Values that make patterns backtrack: a prefix that gets a pattern going, then a long run of
// blanks, separators or one class, then a character that makes the match fail at the end.
const prefix = fc.oneof(fc.constantFrom('', 'a', 'a@', '1', '1.5', 'https://h', 'K=', 'X: a', '-----BEGIN '), fc.string({ maxLength: 6 }));
const unit = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(' ', '\t', '@', '.', '/', ':', '=', 'a', '1', '-', '~', '\\', '\n', '{', '}', 'é', 'a.', '1 ') },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 3 }) },
);
const suffix = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('x', '!', '@', ' x', '\0') }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) });
const longValue = fc.tuple(prefix, unit, suffix).map(([a, u, b]) => a + u.repeat(Math.ceil(100_000 / u.length)) + b);

test('action.yml lists the inputs the fuzzers cover', () => {
  for (const name of ['email', 'sftp-threshold', 'env-vars', 'dump-url-headers', 'platform-url', 'target']) assert.ok(NAMES.includes(name), name);
});

test('any values for any inputs: taken, or refused naming the input', async () => {
  const value = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), fc.constantFrom('true', 'false', '0', '-1', '512MiB', '1e3', 'https://x', 'http://127.0.0.1:1', 'rpc', 'v1', 'saas~18.2'));
  await fc.assert(
    fc.asyncProperty(fc.dictionary(fc.constantFrom(...NAMES), value, { maxKeys: 8 }), async (inputs) => {
      assertNamed(await readConfig({ ...valid, ...inputs }));
    }),
    params(RUNS),
  );
});

test('100 000-character values of repeated separators in many inputs at once finish (email and sftp-threshold were quadratic)', async () => {
  await fc.assert(
    fc.asyncProperty(longValue, fc.subarray(NAMES, { minLength: 1 }), async (v, names) => {
      assertNamed(await readConfig({ ...valid, ...Object.fromEntries(names.map((name) => [name, v])) }));
    }),
    params(Math.max(3, Math.ceil(RUNS / 10))),
  );
});

test('the shapes that were quadratic finish: e-mail, sizes, platform-url slashes, header values', async () => {
  const N = 300_000;
  const cases: Record<string, string>[] = [
    { email: `a@${'.'.repeat(N)}@` },
    { email: `a@${'a.'.repeat(N / 2)} ` },
    { 'sftp-threshold': `1${' '.repeat(N)}x` },
    { 'sftp-threshold': `${'1'.repeat(N)}.x` },
    { 'platform-url': `https://upgrade.odoo.com${'/'.repeat(N)}x` },
  ];
  for (const c of cases) assertNamed(await readConfig({ ...valid, ...c }));
  const headers = await caller.call(URL_SOURCE, 'parseHeaders', [`X-Token: a${' '.repeat(N)}b\n`], { registry: true });
  assert.ok(headers.ok, headers.error?.message);
});

test('valid values pass: e-mail addresses, sizes with units, env-vars lines', async () => {
  await fc.assert(
    fc.asyncProperty(fc.emailAddress(), async (email) => {
      const o = await readConfig({ ...valid, email });
      assert.ok(o.ok, `${email}: ${o.error?.message}`);
    }),
    params(RUNS),
  );
  const mult = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
  fc.assert(
    fc.property(fc.nat(1_000_000), fc.constantFrom('', ' ', '  '), fc.constantFrom(...Object.keys(mult)), fc.constantFrom('', ' \t'), (n, sp, u, around) => {
      const bytes = n * mult[u as keyof typeof mult];
      assert.equal(parseSize(`${around}${n}${sp}${u}${around}`), Number.isSafeInteger(bytes) ? bytes : undefined);
    }),
    params(RUNS),
  );
});

test('env-vars: taken lines are NAME=value on one line; anything else is refused naming env-vars', async () => {
  const line = fc.oneof(
    fc.tuple(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/), fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }))).map(([k, v]) => `${k}=${v}`),
    fc.string({ unit: 'binary', maxLength: 40 }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(line, { maxLength: 8 }), fc.constantFrom('\n', '\r\n'), async (lines, eol) => {
      const o = await readConfig({ ...valid, 'env-vars': lines.join(eol) });
      assertNamed(o);
      if (!o.ok) return assert.ok(o.error!.problems!.some((p) => p.includes('`env-vars`')));
      for (const v of (o.value as { envVars: string[] }).envVars) {
        assert.match(v, /^[A-Za-z_][A-Za-z0-9_]*=/);
        assert.doesNotMatch(v, /[\0-\x08\x0a-\x1f\x7f\x85\u2028\u2029]/, 'a value the platform would read as two lines');
      }
    }),
    params(RUNS),
  );
});

test('env-vars: a lone CR or a Unicode line separator inside a value is refused (the platform would read two lines)', async () => {
  for (const v of ['A=1\rB=2', 'A=1\u2028B=2', 'A=1\u0085B=2', 'A=x\0y']) {
    const o = await readConfig({ ...valid, 'env-vars': v });
    assert.equal(o.ok, false, JSON.stringify(v));
    assert.match(o.error!.message, /`env-vars` line "A=\.\.\." holds a control character/);
  }
});

test('dump-url-headers: taken headers are tokens with Latin-1 values; bad lines are named by number', async () => {
  const line = fc.oneof(
    fc.tuple(fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/), fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })), fc.constantFrom('', ' ', '\t ')).map(
      ([k, v, sp]) => `${k}:${sp}${v}${sp}`,
    ),
    fc.string({ unit: 'binary', maxLength: 40 }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(line, { maxLength: 6 }), async (lines) => {
      const o = await caller.call(URL_SOURCE, 'parseHeaders', [lines.join('\n')], { registry: true });
      if (!o.ok) {
        assert.equal(o.error?.name, 'DumpError', `${o.error?.name}: ${o.error?.message}`);
        return assert.match(o.error!.message, /^dump-url-headers: line \d+ /);
      }
      for (const [name, value] of Object.entries(o.value as Record<string, string>)) {
        assert.match(name, /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/);
        assert.match(value, /^[\t\x20-\x7e\x80-\xff]*$/, `value of ${name} cannot travel as a header`);
        assert.equal(value, value.replace(/^[ \t]+/, '').replace(/[ \t]+$/, ''), 'blanks around a value are not part of it');
      }
    }),
    params(RUNS),
  );
});
