// The inputs that carry secrets, in ONE list: a new secret input is added here and nowhere
// else. The run masks their raw values first, before reading or validating any input, so a
// run refused for a typo elsewhere still never prints them.
import type { InputGetter } from '../inputs.ts';
import type { SecretRegistry } from '../secrets.ts';

/** How a value holds its secret: whole, or in the parts of a URL, header lines, a connection string. */
export type SecretForm = 'text' | 'url' | 'headers' | 'connection' | 'url-if-url';

export const SECRET_INPUTS: ReadonlyArray<{ name: string; form: SecretForm }> = [
  { name: 'contract', form: 'text' },
  { name: 'request-key', form: 'text' },
  { name: 'github-token', form: 'text' },
  { name: 'dump-url', form: 'url' },
  { name: 'dump-url-headers', form: 'headers' },
  { name: 'dump-database', form: 'connection' },
  { name: 'restore-database', form: 'connection' },
  { name: 'ssh-private-key', form: 'text' },
  { name: 'handle-passphrase', form: 'text' },
  { name: 'original-filestore', form: 'url-if-url' },
];

/** Registers (and so masks, in every encoded form the registry knows) each secret input's raw value. */
export function maskSecretInputs(get: InputGetter, secrets: SecretRegistry): void {
  for (const { name, form } of SECRET_INPUTS) {
    const raw = get(name)?.trim();
    if (raw) registerValue(raw, form, secrets);
  }
}

function registerValue(raw: string, form: SecretForm, secrets: SecretRegistry): void {
  switch (form) {
    case 'text':
      return secrets.add(raw);
    case 'url':
      return registerUrl(raw, secrets);
    case 'url-if-url':
      // A local path is not a secret; a URL may carry a signature or credentials.
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) registerUrl(raw, secrets);
      return;
    case 'headers':
      return registerHeaders(raw, secrets);
    case 'connection':
      return registerConnection(raw, secrets);
  }
}

/** The whole URL, its userinfo, its query string and each query value. */
function registerUrl(raw: string, secrets: SecretRegistry): void {
  secrets.addUrl(raw);
  // Even where URL parsing fails, what follows `?` or precedes `@` is the secret part.
  const query = raw.indexOf('?');
  if (query >= 0) secrets.add(raw.slice(query + 1).split('#')[0]);
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]*)@/i.exec(raw)?.[1];
  if (userinfo) {
    secrets.add(userinfo);
    const password = userinfo.slice(userinfo.indexOf(':') + 1);
    if (userinfo.includes(':')) {
      secrets.add(password);
      secrets.add(safeDecode(password));
    }
  }
}

/** `Name: value` lines: each value, and the credentials after an auth scheme (`Bearer xyz`). */
function registerHeaders(raw: string, secrets: SecretRegistry): void {
  for (const line of raw.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const value = line.slice(colon + 1).trim();
    secrets.add(value);
    const scheme = /^\S+\s+(.+)$/.exec(value);
    if (scheme) secrets.add(scheme[1].trim());
  }
}

/** A PostgreSQL connection string, URL (`postgresql://u:pw@h/db?password=..`) or keywords (`password='x y'`). */
function registerConnection(raw: string, secrets: SecretRegistry): void {
  secrets.add(raw);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) return registerUrl(raw, secrets);
  for (const m of raw.matchAll(/(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/gi)) {
    const value = m[1];
    secrets.add(value);
    if (value.startsWith("'")) secrets.add(value.slice(1, -1).replace(/\\(.)/g, '$1'));
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
