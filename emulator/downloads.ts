// The key-bearing URLs of a request (/database/eu1/<id>/<key>/...): its status page and its
// files, each served only once the request's state makes it exist (404 before).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Call } from './http-util.ts';
import { errorPage, sendError, sendHtml } from './http-util.ts';
import { serveFile, type FileToServe } from './serve-file.ts';
import type { EmuRequest } from './server.ts';
import { SUCCESS_STATES } from './states.ts';
import { findRequest, type Env } from './context.ts';
import { refreshUpload } from './upload.ts';

export const RESOURCES = [
  'status', 'upgraded/notes', 'original/sql', 'original/archive', 'upgraded/sql', 'upgraded/archive', 'modules/archive',
] as const;
export type Resource = (typeof RESOURCES)[number];

/** The name a scenario's httpErrors use for this URL. */
export function methodOfResource(resource: string): string {
  if (resource === 'upgraded/notes') return 'notes';
  return resource === 'status' ? 'status_page' : 'download';
}

export async function handleDownload(
  env: Env, id: string, key: string, resource: Resource, req: IncomingMessage, res: ServerResponse, call: Call,
): Promise<void> {
  req.resume();
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendError(res, call, 405, { Allow: 'GET, HEAD' });
    return;
  }
  const r = findRequest(env, id, key);
  if (!r) {
    sendError(res, call, 404);
    return;
  }
  env.builder.ensure(r);
  if (resource === 'status') {
    sendHtml(res, call, 200, statusPage(r), { 'Cache-Control': 'no-store' }, call.via === 'HEAD');
    return;
  }
  const file = await fileFor(r, resource);
  if (!file) {
    sendHtml(res, call, 404, errorPage(404, 'This file is not available for this request (yet).'), {}, call.via === 'HEAD');
    return;
  }
  const cut = call.via === 'GET' ? env.runtime.takeDownloadCut(`${r.id}/${resource}`) : undefined;
  await serveFile(req, res, call, file, cut);
}

async function fileFor(r: EmuRequest, resource: Resource): Promise<FileToServe | undefined> {
  const stem = r.filename.replace(/\.[^.]*$/, '') || 'database';
  const upgraded = SUCCESS_STATES.includes(r.state);
  const etag = (sha?: string) => (sha ? `"${sha.slice(0, 32)}"` : undefined);
  switch (resource) {
    case 'upgraded/notes':
      return upgraded && r.notesPath ? { path: r.notesPath, contentType: 'text/html; charset=utf-8', etag: etag(r.notesSha256) } : undefined;
    case 'upgraded/sql':
      return upgraded && r.upgradedSqlPath
        ? { path: r.upgradedSqlPath, contentType: 'application/sql', etag: etag(r.upgradedSqlSha256), downloadName: `upgraded_${stem}.sql` }
        : undefined;
    case 'upgraded/archive':
      return upgraded && r.upgradedArchivePath
        ? { path: r.upgradedArchivePath, contentType: 'application/zip', etag: etag(r.upgradedArchiveSha256), downloadName: `upgraded_${stem}.zip` }
        : undefined;
    case 'modules/archive':
      return r.builtAt !== undefined && r.modulesArchivePath
        ? { path: r.modulesArchivePath, contentType: 'application/zip', etag: etag(r.modulesArchiveSha256), downloadName: `modules_${r.id}.zip` }
        : undefined;
    case 'original/archive':
    case 'original/sql': {
      if (r.state === 'draft') await refreshUpload(r);
      if (!r.uploadedPath || r.uploadedBytes === 0) return undefined;
      // Only a plain SQL upload has an SQL form here: the emulator converts nothing.
      if (resource === 'original/sql') {
        return r.compressions.join() === 'sql' ? { path: r.uploadedPath, contentType: 'application/sql', downloadName: `${stem}.sql` } : undefined;
      }
      return { path: r.uploadedPath, contentType: 'application/octet-stream', downloadName: r.filename };
    }
    default:
      return undefined;
  }
}

function statusPage(r: EmuRequest): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const rows = r.history.map((h) => `<li>${esc(h.state)} at ${new Date(h.at).toISOString()}</li>`).join('\n');
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Upgrade request ${esc(r.id)}</title></head>
<body><h1>Upgrade request ${esc(r.id)}</h1>
<p>Database <em>${esc(r.filename)}</em> to ${esc(r.target)} (${esc(r.aim)}): <strong>${esc(r.state)}</strong></p>
<ul>
${rows}
</ul>
</body></html>
`;
}
