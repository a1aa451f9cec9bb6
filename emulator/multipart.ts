// multipart/form-data (RFC 7578) parsed from a bounded body: the only multipart field the
// API takes is a small authorized_keys file.

export interface Part { name: string; filename?: string; contentType?: string; data: Buffer }

export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const b = m?.[1] ?? m?.[2];
  return b && b.length <= 70 ? b : undefined;
}

export class MultipartError extends Error {}

export function parseMultipart(body: Buffer, boundary: string): Part[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Part[] = [];
  // The first delimiter may follow a preamble; later ones are preceded by CRLF.
  let at = body.indexOf(delimiter);
  if (at < 0 || (at > 0 && body.toString('latin1', at - 2, at) !== '\r\n')) throw new MultipartError('no opening boundary');
  for (;;) {
    at += delimiter.length;
    if (body.toString('latin1', at, at + 2) === '--') return parts;
    at = skipPadding(body, at);
    if (body.toString('latin1', at, at + 2) !== '\r\n') throw new MultipartError('malformed boundary line');
    at += 2;
    const headersEnd = body.indexOf('\r\n\r\n', at, 'latin1');
    if (headersEnd < 0) throw new MultipartError('unterminated part headers');
    const headers = parseHeaders(body.toString('utf8', at, headersEnd));
    const dataStart = headersEnd + 4;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), dataStart);
    if (next < 0) throw new MultipartError('missing closing boundary');
    const disposition = parseDisposition(headers.get('content-disposition'));
    if (!disposition) throw new MultipartError('part without a form-data Content-Disposition');
    parts.push({ ...disposition, contentType: headers.get('content-type'), data: body.subarray(dataStart, next) });
    at = next + 2;
  }
}

function skipPadding(body: Buffer, at: number): number {
  while (body[at] === 0x20 || body[at] === 0x09) at++;
  return at;
}

function parseHeaders(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartError('malformed part header');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

function parseDisposition(value: string | undefined): { name: string; filename?: string } | undefined {
  if (!value) return undefined;
  const [kind, ...rest] = splitParams(value);
  if (kind?.toLowerCase() !== 'form-data') return undefined;
  const params = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    let v = p.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    params.set(p.slice(0, eq).trim().toLowerCase(), v);
  }
  const name = params.get('name');
  if (name === undefined) return undefined;
  const star = params.get('filename*');
  const filename = star !== undefined ? decodeExtended(star) : params.get('filename');
  return filename === undefined ? { name } : { name, filename };
}

/** Splits on `;` outside quoted strings. */
function splitParams(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted && c === '\\' && i + 1 < value.length) {
      cur += c + value[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ';' && !quoted) {
      out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  out.push(cur.trim());
  return out;
}

function decodeExtended(v: string): string {
  const m = /^([^']*)'[^']*'(.*)$/.exec(v);
  try {
    return m ? decodeURIComponent(m[2]!) : v;
  } catch {
    return v;
  }
}
