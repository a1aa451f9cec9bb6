// One registry of secret values. Every value is masked for the runner at first sight
// and every string that leaves the process (log lines, errors, summary, comments,
// artifacts) goes through redact(): a secret can only leak if it never reached here.
import * as core from '@actions/core';

const MIN_LENGTH = 4; // shorter values would redact ordinary words

export class SecretRegistry {
  private readonly values = new Set<string>();
  private readonly mask: (value: string) => void;

  constructor(mask: (value: string) => void = core.setSecret) {
    this.mask = mask;
  }

  /** Registers a secret and the forms it takes in URLs, query strings and JSON. */
  add(value: string | undefined | null): void {
    if (!value) return;
    const trimmed = value.trim();
    if (trimmed.length < MIN_LENGTH) return;
    for (const form of variants(trimmed)) {
      if (form.length < MIN_LENGTH || this.values.has(form)) continue;
      this.values.add(form);
      // A multi-line value (an SSH key) is masked line by line, as the runner matches lines.
      for (const line of form.split(/\r?\n/)) if (line.trim().length >= MIN_LENGTH) this.mask(line.trim());
    }
  }

  /** Registers a URL that embeds a secret: the whole URL, its path and query secrets. */
  addUrl(url: string | undefined | null): void {
    if (!url) return;
    this.add(url);
    try {
      const u = new URL(url);
      if (u.password) this.add(decodeURIComponent(u.password));
      for (const [, v] of u.searchParams) this.add(v);
    } catch {
      // not a URL: the whole value is already registered
    }
  }

  has(value: string): boolean {
    return this.values.has(value);
  }

  list(): string[] {
    return [...this.values];
  }

  redact(text: string): string {
    if (!text || this.values.size === 0) return text;
    // Longest first, so a URL is replaced whole before the key inside it.
    let out = text;
    for (const v of [...this.values].sort((a, b) => b.length - a.length)) {
      if (out.includes(v)) out = out.split(v).join('***');
    }
    return out;
  }

  /** Redacts an error's message and stack in place and returns it (library errors too). */
  redactError(err: unknown): Error {
    const e = err instanceof Error ? err : new Error(String(err));
    // Some errors (DOMException) have read-only fields: those get a redacted copy instead.
    try {
      e.message = this.redact(e.message);
      if (e.stack) e.stack = this.redact(e.stack);
    } catch {
      const copy = new Error(this.redact(e.message));
      copy.name = e.name;
      return copy;
    }
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof Error) this.redactError(cause);
    return e;
  }
}

function variants(value: string): string[] {
  const forms = new Set<string>([value]);
  forms.add(encodeURIComponent(value));
  forms.add(new URLSearchParams({ v: value }).toString().slice(2)); // form-encoding: spaces as +
  forms.add(JSON.stringify(value).slice(1, -1));
  try {
    forms.add(encodeURI(value));
  } catch {
    // lone surrogates: the other forms stand
  }
  return [...forms];
}

/** The process-wide registry used by the action (tests make their own). */
export const secrets = new SecretRegistry();

// ---------------------------------------------------------------------------------------------
// Platform answers hold secrets the registry may not know yet (a `create` answer cut short
// carries the new request's key before it was registered). Every snippet of a platform answer
// goes through redactAnswer() before it reaches any message: by field name, by URL shape and
// by the look of a random token, so it works on broken JSON, HTML pages and tracebacks alike.

/** Field names whose values are secrets: key, token, password, secret, *_key, *-token, apiKey... */
const SECRET_NAME = String.raw`[A-Za-z0-9_.-]{0,40}?(?:key|token|password|passwd|secret|signature|credential|authorization)s?`;
/** A quote as it appears in JSON, Python reprs, escaped JSON inside JSON, and HTML. */
const QUOTE = String.raw`(?:\\{0,3}["'\`]|&quot;|&#34;|&#0*39;|&#x0*27;|&apos;)`;
// name, its closing quote if any, a separator; the value is found by hand (it may be cut short).
const NAMED = new RegExp(String.raw`(?<![A-Za-z0-9])(${SECRET_NAME})(${QUOTE}?)(\s{0,8}(?:=>|=|:|&#58;)\s{0,8})`, 'gi');
const QUOTE_AT = new RegExp(`^${QUOTE}`);
/**
 * The key of the platform's key-bearing URLs, /database/<region>/<id>/<key>/<resource>: up to the
 * resource (a key in standard base64 may hold a "/" of its own), or the end of the URL.
 */
const KEYED_PATH = /(\/database\/[^/\s"'<>]{1,40}\/[^/\s"'<>]{1,40}\/)([^\s"'<>?#&\\]+?)(?=\/(?:status|upgraded|original|modules|notes|download|sql|archive)\b|[\s"'<>?#&\\]|$)/gi;
/** Candidates for "looks like a random token": long runs of base64/url-safe/percent characters. */
const TOKENISH = /[A-Za-z0-9+/_=%.-]{8,}/g;
/** Public SSH keys (known_hosts lines) are shown as they are: they identify, they do not open. */
const SSH_KEY_BEFORE = /(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-[a-z0-9]+|sk-[a-z0-9@.-]+)\s+$/;
const MAX_VALUE = 4096;

/**
 * Redacts a platform answer (or a piece of one). With `max`, only what can be shown is worked on
 * (the first `max` characters, plus enough after them to see where a value cut by `max` ends) and
 * at most `max` characters come back: a 4 MiB answer costs no more than a short one.
 */
export function redactAnswer(text: string, max?: number): string {
  if (!text) return text;
  if (max !== undefined) return redactAnswer(text.slice(0, max + MAX_VALUE + 64)).slice(0, max);
  let out = redactNamed(text);
  out = out.replace(KEYED_PATH, (_m, head: string) => `${head}***`);
  out = out.replace(TOKENISH, (tok: string, at: number, whole: string) => {
    if (!looksRandom(tok)) return tok;
    if (tok.startsWith('AAAA') && SSH_KEY_BEFORE.test(whole.slice(Math.max(0, at - 60), at))) return tok;
    return '***';
  });
  return out;
}

function redactNamed(text: string): string {
  let out = '';
  let last = 0;
  NAMED.lastIndex = 0;
  for (let m = NAMED.exec(text); m; m = NAMED.exec(text)) {
    const [start, end] = valueAt(text, m.index + m[0].length);
    if (end > start) {
      out += text.slice(last, start) + '***';
      last = end;
    }
    NAMED.lastIndex = Math.max(end, m.index + m[0].length);
  }
  return out + text.slice(last);
}

/**
 * The value that starts at `i`, as [start, end): inside its quotes (up to the closing quote, or
 * the end of a text cut short), or an unquoted run up to the first delimiter.
 */
function valueAt(text: string, i: number): [number, number] {
  const q = QUOTE_AT.exec(text.slice(i, i + 12));
  if (q) {
    const quote = q[0];
    const start = i + quote.length;
    // A bare quote character ends at the same character not escaped; an entity at the same entity.
    // Looked for within MAX_VALUE only: many unclosed quotes must not make this quadratic.
    const window = text.slice(start, start + MAX_VALUE);
    const close = quote.length === 1 ? unescapedIndexOf(window, quote) : window.indexOf(quote);
    return [start, start + (close < 0 ? window.length : close)];
  }
  // "Bearer xyz": the scheme stays, the credential goes.
  const scheme = /^(?:Bearer|Basic|Token)\s+/i.exec(text.slice(i, i + 12));
  const from = i + (scheme ? scheme[0].length : 0);
  const m = /^[^\s"'`<>,;{}[\]()\\&|]+/.exec(text.slice(from, from + MAX_VALUE));
  return [from, m ? from + m[0].length : from];
}

function unescapedIndexOf(text: string, ch: string): number {
  for (let k = 0; k < text.length; k++) {
    if (text[k] === '\\') k++;
    else if (text[k] === ch) return k;
  }
  return -1;
}

/**
 * A random token (a key, a token, a signature, a hash), not a name: cut into word-like pieces
 * (Capitalised words, UPPER runs, lower runs, digit runs), names give a few long pieces
 * (InternalServerError: 3 of 6 letters on average), random base64 or hex many short ones.
 * Paths and dotted names are judged part by part.
 */
function looksRandom(tok: string): boolean {
  for (const part of tok.split(/[./]+/)) {
    if (part.length < 8 || /^\d{4}-\d\d-\d\d/.test(part)) continue; // dates are not keys
    const pieces = part.match(/[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+/g) ?? [];
    const chars = pieces.reduce((n, p) => n + p.length, 0);
    const mean = chars / pieces.length;
    // Long runs judged loosely; short ones (a base64 key split by its own "/") only when plainly random.
    if (pieces.length >= 5 && ((chars >= 12 && part.length >= 16 && mean < 3.2) || (chars >= 8 && mean < 2.6))) return true;
  }
  return false;
}
