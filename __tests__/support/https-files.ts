// A local HTTPS file server for download tests: a self-signed certificate made with the
// openssl CLI, an Authorization check, Range support, a connection cut once mid-body,
// redirects, and a log of what each request carried. Listens on 127.0.0.1 only.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';

const run = promisify(execFile);

export interface ServedFile {
  body: Buffer;
  /** Once: send this many body bytes, then drop the connection. */
  cutAfter?: number;
  ignoreRange?: boolean;
  etag?: string;
  contentDisposition?: string;
  /** Serve without Authorization, but only with this exact `sig` query value (a pre-signed link). */
  signature?: string;
}

export interface SeenRequest {
  path: string;
  query: string;
  authorization?: string;
  range?: string;
  ifRange?: string;
  status: number;
}

export interface HttpsFiles {
  url: string; // https://127.0.0.1:<port>
  port: number;
  ca: string;
  dispatcher: Agent;
  requests: SeenRequest[];
  files: Map<string, ServedFile>; // served at /files/<name>
  redirects: Map<string, string>; // path -> Location
  close(): Promise<void>;
}

let certCache: Promise<{ key: string; cert: string }> | undefined;

/** One certificate per test process, so every server shares a CA and one dispatcher trusts all. */
export function testCertificate(): Promise<{ key: string; cert: string }> {
  certCache ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'https-files-'));
    try {
      await run('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ]);
      return { key: await readFile(join(dir, 'key.pem'), 'utf8'), cert: await readFile(join(dir, 'cert.pem'), 'utf8') };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return certCache;
}

export async function startHttpsFiles(opts: { authorization?: string } = {}): Promise<HttpsFiles> {
  const { key, cert } = await testCertificate();
  const files = new Map<string, ServedFile>();
  const redirects = new Map<string, string>();
  const requests: SeenRequest[] = [];
  const cutDone = new Set<string>();

  const server: Server = createServer({ key, cert }, (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'https://127.0.0.1');
    const seen: SeenRequest = {
      path: u.pathname,
      query: u.search,
      authorization: req.headers.authorization,
      range: req.headers.range,
      ifRange: req.headers['if-range'] as string | undefined,
      status: 0,
    };
    requests.push(seen);
    const reply = (status: number, headers: Record<string, string | number> = {}, body?: Buffer | string) => {
      seen.status = status;
      res.writeHead(status, headers);
      res.end(body);
    };

    const target = redirects.get(u.pathname);
    if (target) return reply(302, { location: target });

    const name = decodeURIComponent(u.pathname.replace(/^\/files\//, ''));
    const file = u.pathname.startsWith('/files/') ? files.get(name) : undefined;
    if (!file) return reply(404, {}, 'not found');
    if (file.signature !== undefined) {
      // Like an object store: the signature is the credential, a second one is an error.
      if (u.searchParams.get('sig') !== file.signature || req.headers.authorization) return reply(403, {}, '<Error>AccessDenied</Error>');
    } else if (opts.authorization !== undefined && req.headers.authorization !== opts.authorization) {
      return reply(401, { 'www-authenticate': 'Bearer' }, 'authentication required');
    }

    const total = file.body.length;
    const etag = file.etag ?? `"${total}-v1"`;
    let start = 0;
    let status = 200;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (range && !file.ignoreRange && (!ifRange || ifRange === etag)) {
      start = Number(range[1]);
      if (start >= total) return reply(416, { 'content-range': `bytes */${total}` });
      status = 206;
    }
    const headers: Record<string, string | number> = {
      'content-length': total - start,
      'content-type': 'application/octet-stream',
      etag,
      'accept-ranges': 'bytes',
    };
    if (status === 206) headers['content-range'] = `bytes ${start}-${total - 1}/${total}`;
    if (file.contentDisposition) headers['content-disposition'] = file.contentDisposition;
    seen.status = status;
    res.writeHead(status, headers);

    const body = file.body.subarray(start);
    if (file.cutAfter !== undefined && !cutDone.has(name) && file.cutAfter < body.length) {
      cutDone.add(name);
      res.write(body.subarray(0, file.cutAfter), () => {
        // The bytes are flushed; now the connection dies without finishing the body.
        res.socket?.end();
        setTimeout(() => res.socket?.destroy(), 20).unref();
      });
      return;
    }
    res.end(body);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const dispatcher = new Agent({ connect: { ca: cert } });
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    ca: cert,
    dispatcher,
    requests,
    files,
    redirects,
    async close() {
      await dispatcher.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
