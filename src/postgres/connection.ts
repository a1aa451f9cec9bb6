// libpq connection strings in their two spellings (URI and keywords): split so the password
// travels in PGPASSWORD only, and rebuilt with another database to look around a server.
export interface ConnectionParts {
  conn: string; // the connection string without its password
  password?: string;
  dbname?: string;
  host?: string;
  port?: string;
  user?: string;
}

// ---------------------------------------------------------------------------------------
// Connection strings, in libpq's two spellings

function isUri(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

export function splitConnection(raw: string): ConnectionParts {
  const s = raw.trim();
  if (isUri(s)) return splitUri(s);
  if (s.includes('=')) return splitKeywords(s);
  return { conn: s, dbname: s || undefined }; // a bare database name
}

function splitUri(s: string): ConnectionParts {
  const scheme = /^postgres(ql)?:\/\//i.exec(s)![0];
  let rest = s.slice(scheme.length);
  const parts: ConnectionParts = { conn: '' };
  // As libpq: credentials end at the first '@' met before any '/'.
  const stop = rest.search(/[@/]/);
  let userinfo = '';
  if (stop >= 0 && rest[stop] === '@') {
    userinfo = rest.slice(0, stop);
    rest = rest.slice(stop + 1);
  }
  const colon = userinfo.indexOf(':');
  const userRaw = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
  if (colon >= 0) parts.password = safeDecode(userinfo.slice(colon + 1));
  if (userRaw) parts.user = safeDecode(userRaw);

  const q = rest.indexOf('?');
  const before = q >= 0 ? rest.slice(0, q) : rest;
  const query = q >= 0 ? rest.slice(q + 1) : '';
  const slash = before.indexOf('/');
  const hostspec = slash >= 0 ? before.slice(0, slash) : before;
  const db = slash >= 0 ? before.slice(slash + 1) : '';
  if (db) parts.dbname = safeDecode(db);
  const hostMatch = /^(\[[^\]]*\]|[^:,]*)(?::(\d+))?/.exec(hostspec);
  if (hostMatch?.[1]) parts.host = safeDecode(hostMatch[1]);
  if (hostMatch?.[2]) parts.port = hostMatch[2];

  const kept: string[] = [];
  for (const pair of query.split('&').filter(Boolean)) {
    const eq = pair.indexOf('=');
    const key = safeDecode(eq >= 0 ? pair.slice(0, eq) : pair);
    const value = safeDecode(eq >= 0 ? pair.slice(eq + 1) : '');
    if (key === 'password') parts.password = value;
    else {
      if (key === 'dbname') parts.dbname = value;
      if (key === 'user') parts.user = value;
      if (key === 'host') parts.host = value;
      if (key === 'port') parts.port = value;
      kept.push(pair);
    }
  }
  parts.conn = scheme + (userRaw ? `${userRaw}@` : '') + before + (kept.length ? `?${kept.join('&')}` : '');
  return parts;
}

function splitKeywords(s: string): ConnectionParts {
  const parts: ConnectionParts = { conn: '' };
  const kept: string[] = [];
  const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s']*))/y;
  for (let pos = 0; s.slice(pos).trim() !== ''; pos = re.lastIndex) {
    re.lastIndex = pos;
    const m = re.exec(s);
    // Unparseable: hand libpq the original (registered as a secret already) so its own error explains.
    if (!m) return { conn: s, password: parts.password };
    const key = m[1];
    const value = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
    if (key === 'password') {
      parts.password = value;
      continue;
    }
    if (key === 'dbname') parts.dbname = value;
    if (key === 'user') parts.user = value;
    if (key === 'host' || key === 'hostaddr') parts.host ??= value;
    if (key === 'port') parts.port = value;
    kept.push(`${key}='${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);
  }
  parts.conn = kept.join(' ');
  return parts;
}

function safeDecode(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}


/** The same connection with another database: to look around and create the target. */
export function withDatabase(parts: ConnectionParts, dbname: string): string {
  const conn = parts.conn;
  const uri = /^(postgres(?:ql)?:\/\/[^/?]*)(\/[^?]*)?(\?.*)?$/i.exec(conn);
  if (uri) {
    const query = (uri[3] ?? '').slice(1).split('&').filter((p) => p && !/^dbname=/i.test(p));
    return `${uri[1]}/${encodeURIComponent(dbname)}${query.length ? `?${query.join('&')}` : ''}`;
  }
  if (conn.includes('=')) return `${conn.replace(/(^|\s)dbname='(?:[^'\\]|\\.)*'/g, '').trim()} dbname='${dbname}'`;
  return dbname;
}

/** Where a connection points, for messages: never the password. */
export function describeTarget(p: ConnectionParts): string {
  const where = p.host ? `${p.host}${p.port ? `:${p.port}` : ''}` : 'the local server';
  return `database "${p.dbname ?? p.user ?? '(default)'}" on ${where}${p.user ? ` as ${p.user}` : ''}`;
}

/** A SQL string literal. */
export function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A SQL identifier. */
export function ident(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}
