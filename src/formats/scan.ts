// One pass over decompressed bytes (gzip or a zip entry) that tells SQL from tar from anything else.
import { describeText } from './sniff.ts';
import { sqlTracker } from './sql.ts';
import { isTarHeader, tarLister, type TarListing } from './tar.ts';
import { SNIFF_BYTES } from './io.ts';

class StopReading extends Error {}

export type Sink = (source: AsyncIterable<Buffer>) => Promise<void>;

export interface Scan {
  sql: ReturnType<typeof sqlTracker>;
  kind: 'sql' | 'tar' | 'other' | 'empty';
  tar: TarListing;
  error?: unknown; // the stream failed (truncated, damaged) after `sql.total` bytes
}

/**
 * Reads decompressed bytes once: SQL is read to its end (a cut stream must fail), a tar
 * only until its names tell what it is, anything else stops after the first KiB.
 */
export async function scanDecompressed(feed: (sink: Sink) => Promise<void>): Promise<Scan> {
  const sql = sqlTracker();
  const tar = tarLister();
  let kind = 'undecided' as 'undecided' | Scan['kind']; // set inside the stream callback
  let pending: Buffer[] = []; // what came before the verdict, replayed into the tar reader
  const decide = (): void => {
    if (isTarHeader(sql.head)) {
      kind = 'tar';
      if (tar.push(Buffer.concat(pending))) throw new StopReading();
    } else if (!describeText(sql.head.subarray(0, SNIFF_BYTES)).sql) {
      kind = 'other';
      throw new StopReading();
    } else kind = 'sql';
    pending = [];
  };
  let error: unknown;
  try {
    await feed(async (source) => {
      for await (const chunk of source) {
        if (kind === 'tar') {
          if (tar.push(chunk)) throw new StopReading();
          continue;
        }
        sql.push(chunk);
        if (kind === 'undecided') {
          pending.push(chunk);
          if (sql.total >= SNIFF_BYTES) decide();
        }
      }
      if (kind === 'undecided' && sql.total > 0) decide();
    });
  } catch (err) {
    if (!(err instanceof StopReading)) error = err;
  }
  return { sql, kind: kind === 'undecided' ? 'empty' : kind, tar: tar.result(), error };
}
