// How the platform spells sizes, dates and durations in a status answer (after the seed's sample).

export function formatFilesize(bytes: number): string {
  const kb = bytes / 1024;
  if (kb < 1024) return `${kb.toFixed(2)} Kb`;
  const mb = kb / 1024;
  if (mb < 1024) return `${mb.toFixed(2)} Mb`;
  return `${(mb / 1024).toFixed(2)} Gb`;
}

/** "2015-09-09 07:13:49" (UTC). */
export function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** "HH:MM", as the seed's `elapsed`. */
export function formatDuration(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}
