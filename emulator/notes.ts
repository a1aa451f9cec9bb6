// The upgrade notes the platform publishes with a result: an HTML report. This one also
// carries active content (a script, an onerror handler, a javascript: link) on purpose, so
// a client that renders or publishes the notes proves it neutralises them.

export interface NotesInput { id: string; target: string; aim: string; filename: string; databaseVersion: string }

export function defaultNotesHtml(n: NotesInput): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Upgrade notes - request ${esc(n.id)}</title></head>
<body>
<h1>Upgrade notes</h1>
<p>Request <strong>${esc(n.id)}</strong> (${esc(n.aim)}): <em>${esc(n.filename)}</em> upgraded from ${esc(n.databaseVersion)} to <strong>${esc(n.target)}</strong>.</p>
<h2>Before you go live</h2>
<ul>
  <li>Outgoing mail servers and scheduled actions were disabled in this test database (neutralized).</li>
  <li>The module <code>website_sale_extra</code> is not available in ${esc(n.target)} and was uninstalled.</li>
  <li>3 custom views could not be adapted and were disabled: check them in Settings &gt; Technical &gt; Views.</li>
  <li>Merge the <code>filestore/</code> of the archive into your existing filestore.</li>
</ul>
<h2>Modules</h2>
<table>
  <thead><tr><th>Module</th><th>Status</th></tr></thead>
  <tbody>
    <tr><td>sale_management</td><td>upgraded</td></tr>
    <tr><td>account_accountant</td><td>upgraded</td></tr>
    <tr><td>website_sale_extra</td><td>removed</td></tr>
  </tbody>
</table>
<h3>Active content (must never run in a client)</h3>
<script>alert(1)</script>
<img src="x" onerror="alert(2)" alt="broken image">
<p><a href="javascript:alert(3)" onclick="alert(4)">details</a></p>
</body>
</html>
`;
}
