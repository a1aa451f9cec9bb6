// tar, only to say what it is (the platform takes no tar): names are read, member data skipped.
import { DumpError } from './types.ts';
import { normaliseName, odooShBackupSigns, refuseArchiveWithoutDump } from './odoo-backup.ts';

export function refuseTar(listing: TarListing, where: string, kind: string): never {
  if (listing.names.includes('toc.dat') && listing.names.some((n) => /^\d+\.dat(\.gz)?$/.test(n) || n === 'restore.sql')) {
    throw new DumpError(
      `${where} is a pg_dump tar-format archive (\`pg_dump -Ft\`), which the platform does not take. ` +
        'Make a custom-format dump instead (`pg_dump -Fc -f db.dump <database>`).',
    );
  }
  if (listing.names.includes('dump.sql')) {
    throw new DumpError(
      `${where} is ${kind} holding dump.sql; the platform takes zip archives, not tar. ` +
        'Extract it and pass dump.sql, or repack it as a zip (`zip -r db.zip dump.sql filestore`).',
    );
  }
  throw refuseArchiveWithoutDump(listing.names, where, kind);
}

export function isTarHeader(b: Buffer): boolean {
  if (b.length < 512) return false;
  if (b.toString('latin1', 257, 262) !== 'ustar') return false;
  return tarChecksumOk(b.subarray(0, 512));
}

function tarChecksumOk(h: Buffer): boolean {
  const stored = parseInt(h.toString('latin1', 148, 156).replace(/\0.*$/s, '').trim(), 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return stored === sum;
}

export interface TarListing {
  names: string[];
}

/**
 * Incremental tar reader that only collects member names. push() returns true once there
 * is enough to decide (the end, or an Odoo.sh sign) so callers can stop reading.
 */
export function tarLister() {
  const names: string[] = [];
  let pending = Buffer.alloc(0);
  let skip = 0; // bytes of member data (and padding) still to pass
  // A long-name or pax header: its first MAX_META bytes are kept, the rest passed over, so a
  // header claiming gigabytes costs no more memory than a real one.
  let meta: { type: string; padded: number; kept: number; data: Buffer[] } | undefined;
  let longName: string | undefined;
  let done = false;
  const MAX_NAMES = 100_000;
  const MAX_META = 64 * 1024;

  function header(h: Buffer) {
    if (h.every((x) => x === 0)) {
      done = true;
      return;
    }
    if (!tarChecksumOk(h)) {
      done = true; // damaged: the names so far are all there is to say
      return;
    }
    const type = String.fromCharCode(h[156] || 0x30);
    const size = tarSize(h.subarray(124, 136));
    if (size === undefined) {
      done = true; // a negative or unreadable size: damaged, and no way to find the next header
      return;
    }
    const padded = Math.ceil(size / 512) * 512;
    if (type === 'L' || type === 'x') {
      meta = { type, padded, kept: 0, data: [] };
      return;
    }
    let name = cString(h, 0, 100);
    if (h.toString('latin1', 257, 262) === 'ustar') {
      const prefix = cString(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (longName !== undefined) name = longName;
    longName = undefined;
    if (names.length < MAX_NAMES) names.push(normaliseName(name));
    skip = padded;
  }

  function push(chunk: Buffer): boolean {
    let p = 0;
    while (!done && p < chunk.length) {
      if (meta) {
        const take = Math.min(meta.padded, chunk.length - p);
        const keep = Math.min(take, MAX_META - meta.kept);
        if (keep > 0) meta.data.push(Buffer.from(chunk.subarray(p, p + keep)));
        meta.kept += Math.max(keep, 0);
        meta.padded -= take;
        p += take;
        if (meta.padded === 0) {
          const data = Buffer.concat(meta.data).toString('utf8');
          longName = meta.type === 'L' ? data.replace(/\0.*$/s, '') : (/(?:^|\n)\d+ path=([^\n]*)\n/.exec(data)?.[1] ?? longName);
          meta = undefined;
        }
        continue;
      }
      if (skip > 0) {
        const take = Math.min(skip, chunk.length - p);
        skip -= take;
        p += take;
        continue;
      }
      const take = Math.min(512 - pending.length, chunk.length - p);
      pending = Buffer.concat([pending, chunk.subarray(p, p + take)]);
      p += take;
      if (pending.length === 512) {
        const h = pending;
        pending = Buffer.alloc(0);
        header(h);
        if (odooShBackupSigns(names.slice(-1)).length) done = true;
      }
    }
    return done;
  }
  return { push, result: (): TarListing => ({ names }) };
}

/** A member's size, or undefined when negative, beyond 2^53 or not a number (damage). */
function tarSize(field: Buffer): number | undefined {
  if (field[0] & 0x80) {
    if (field[0] !== 0x80) return undefined; // base-256 with the sign bit: negative
    let v = 0;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i];
    return Number.isSafeInteger(v) ? v : undefined;
  }
  const end = field.indexOf(0);
  const text = field.toString('latin1', 0, end < 0 ? field.length : end).trim();
  return /^[0-7]*$/.test(text) ? parseInt(text || '0', 8) : undefined;
}

function cString(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len);
  const end = s.indexOf(0);
  return s.subarray(0, end < 0 ? s.length : end).toString('utf8');
}
