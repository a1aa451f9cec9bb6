// Progress of a transfer as log lines every ~10 s: percent, MiB/s, ETA. Pure formatting
// lives in describe() so it is tested without timers.
export interface ProgressSink {
  /** Total bytes transferred so far (absolute, resumes included). */
  update(done: number): void;
  /** Called once when the transfer ended (ok or not). */
  finish(): void;
}

export interface ProgressOptions {
  label: string;
  total?: number; // unknown for a stream without Content-Length
  start?: number; // bytes already there when resuming
  intervalMs?: number;
  log: (line: string) => void;
  now?: () => number;
}

export function describe(label: string, done: number, total: number | undefined, elapsedMs: number, startedAt = 0): string {
  const moved = done - startedAt;
  const rate = elapsedMs > 0 ? moved / (elapsedMs / 1000) : 0;
  const parts = [label];
  if (total && total > 0) {
    parts.push(`${((done / total) * 100).toFixed(1)}%`, `${formatBytes(done)} of ${formatBytes(total)}`);
  } else {
    parts.push(formatBytes(done));
  }
  parts.push(`${(rate / 1048576).toFixed(1)} MiB/s`);
  if (total && rate > 0 && done < total) parts.push(`ETA ${formatDuration((total - done) / rate)}`);
  return parts.join(', ');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}

export function progress(opts: ProgressOptions): ProgressSink {
  const now = opts.now ?? Date.now;
  const interval = opts.intervalMs ?? 10_000;
  const started = now();
  const startBytes = opts.start ?? 0;
  let last = started;
  let done = startBytes;
  let finished = false;
  return {
    update(n: number) {
      done = n;
      const t = now();
      if (t - last >= interval) {
        last = t;
        opts.log(describe(opts.label, done, opts.total, t - started, startBytes));
      }
    },
    finish() {
      if (finished) return;
      finished = true;
      opts.log(`${describe(opts.label, done, opts.total, now() - started, startBytes)} (${formatDuration((now() - started) / 1000)} in all)`);
    },
  };
}
