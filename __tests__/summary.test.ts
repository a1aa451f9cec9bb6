import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderSummary, bound, MAX_SUMMARY_BYTES } from '../src/publish/summary.ts';
import { htmlToText, escapeMarkdown, notesToMarkdown, notesHeadlines } from '../src/publish/html-text.ts';
import { newReport } from '../src/publish/report.ts';

const hostile = '<h1>Notes</h1><script>alert(1)</script><ul><li>Module <b>sale</b> upgraded</li><li><img src=x onerror=alert(2)>x</li></ul><a href="javascript:alert(3)">click</a> @everyone [link](https://evil.example)';

test('remote HTML is reduced to text; no tag survives', () => {
  const t = htmlToText(hostile);
  assert.doesNotMatch(t, /<|alert\(1\)/);
  assert.match(t, /- Module sale upgraded/);
});

test('escaped Markdown cannot produce HTML, links or mentions', () => {
  const md = notesToMarkdown(hostile);
  assert.doesNotMatch(md, /<script|<img|onerror=alert|\]\(https:/);
  assert.doesNotMatch(md, /@everyone/);
  assert.equal(escapeMarkdown('<b>'), '&lt;b&gt;');
});

test('headline items come from list items', () => {
  assert.deepEqual(notesHeadlines(hostile), ['Module sale upgraded', 'x']);
});

test('the summary has a status line, a table, a timeline and folded notes', () => {
  const r = newReport();
  Object.assign(r, {
    outcome: 'success', requestId: '10534', api: 'v1', target: '18.0', aim: 'test', filename: 'db.dump',
    dump: { format: 'custom', size: 1048576, detail: 'pg_dump custom format', source: 'path db.dump', sha256: 'ab'.repeat(32) },
    final: { state: 'done', phase: 'success', raw: {}, databaseVersion: '16.0', postgresql: '15' },
    notesHtml: hostile,
  });
  r.timeline.push({ state: 'pending', at: new Date('2026-01-01T10:00:00Z') }, { state: 'done', at: new Date('2026-01-01T10:05:00Z') });
  r.downloads.push({ role: 'dump', path: '/tmp/out/upgraded_db.zip', bytes: 2048, sha256: 'cd'.repeat(32) });
  const md = renderSummary(r);
  assert.match(md.split('\n')[0], /^## ✅ Upgrade succeeded — state `done`/);
  assert.match(md, /\| Request \| `10534` \|/);
  assert.match(md, /### Timeline/);
  assert.match(md, /2026-01-01 10:05:00 UTC \| `done`/);
  assert.match(md, /<details><summary>Upgrade notes from the platform<\/summary>/);
  assert.match(md, /Detected source version \| 16\.0/);
  assert.match(md, /`\/tmp\/out\/upgraded_db\.zip`/);
  assert.doesNotMatch(md, /<script|onerror=/);
});

test('production runs carry a banner; secrets are redacted', () => {
  const r = newReport();
  Object.assign(r, { outcome: 'failure', aim: 'production', error: 'boom with KEY123456' });
  const md = renderSummary(r, (s) => s.replaceAll('KEY123456', '***'));
  assert.match(md, /Production upgrade/);
  assert.doesNotMatch(md, /KEY123456/);
});

test('the summary stays under 1 MiB and closes what it opened', () => {
  const r = newReport();
  r.outcome = 'success';
  r.notesHtml = '<ul>' + '<li>a very long note line that repeats</li>'.repeat(100_000) + '</ul>';
  const md = renderSummary(r);
  assert.ok(Buffer.byteLength(md) <= MAX_SUMMARY_BYTES);
  assert.ok(md.lastIndexOf('</details>') > md.lastIndexOf('<details>'));
  assert.equal(bound('short', 100), 'short');
});
