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
