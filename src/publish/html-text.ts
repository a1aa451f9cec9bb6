// Remote HTML (the platform's notes and reports) is never passed on raw: it is reduced to
// text here, then escaped by whoever renders it. Tags are dropped, not interpreted.
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code < 0x110000 ? String.fromCodePoint(code) : '';
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

/** HTML → plain text lines: scripts and styles removed whole, block tags become line breaks. */
export function htmlToText(html: string, maxChars = 200_000): string {
  const text = html
    .slice(0, maxChars * 4)
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<(script|style|head|template|iframe|object|svg)\b[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<(script|style)\b[\s\S]*$/gi, '')
    .replace(/<li\b[^>]*>/gi, '\n- ')
    .replace(/<h[1-6]\b[^>]*>/gi, '\n\n### ')
    .replace(/<(br|\/p|\/div|\/h[1-6]|\/li|\/ul|\/ol|\/tr|p|div|tr|ul|ol|table)\b[^>]*>/gi, '\n')
    .replace(/<\/?(td|th)\b[^>]*>/gi, ' ')
    .replace(/<[^>]*>?/g, '');
  return decodeEntities(text)
    .replace(/[ \t\f\v\r]+/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
    .slice(0, maxChars);
}

/**
 * Escapes text for GitHub Markdown so it renders as the same text: no HTML, links, images,
 * mentions or emphasis can come out of it.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_{}[\]()#+!|~])/g, '\\$1')
    .replace(/@/g, '@\u200b')
    .replace(/^(\s*)-(?=\s)/gm, '$1\\-')
    .replace(/^(\s*\d+)\.(?=\s)/gm, '$1\\.')
    .replace(/https?:\/\//gi, (m) => m.replace(':', '&#58;'));
}

/** Notes as safe Markdown: headings and list items kept, everything else escaped text. */
export function notesToMarkdown(html: string, maxChars = 64_000): string {
  const text = htmlToText(html, maxChars);
  return text
    .split('\n')
    .map((line) => {
      if (line.startsWith('### ')) return `#### ${escapeMarkdown(line.slice(4))}`;
      if (line.startsWith('- ')) return `- ${escapeMarkdown(line.slice(2))}`;
      return escapeMarkdown(line);
    })
    .join('\n');
}

/** Headline items of the notes: the first few list items or lines, for a PR comment. */
export function notesHeadlines(html: string, max = 5): string[] {
  const lines = htmlToText(html, 50_000).split('\n');
  const items = lines.filter((l) => l.startsWith('- ')).map((l) => l.slice(2));
  const pool = items.length ? items : lines.filter((l) => l && !l.startsWith('### '));
  return pool.slice(0, max).map((l) => (l.length > 200 ? `${l.slice(0, 197)}...` : l));
}
