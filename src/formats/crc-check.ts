// Passes a stream's bytes through unchanged and fails it at its end when their CRC-32 is not
// the expected one; errors of the source are passed on through `wrap`.
import { Transform, type Readable } from 'node:stream';
import { crc32 } from 'node:zlib';

/** The check as a pipeline stage: bytes pass through unchanged; at the end, a wrong CRC-32 fails it. */
export function crc32Transform(expected: number, mismatch: () => Error): Transform {
  let crc = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      crc = crc32(chunk, crc);
      cb(null, chunk);
    },
    flush(cb) {
      cb(crc >>> 0 === expected >>> 0 ? null : mismatch());
    },
  });
}

export function checkCrc32(source: Readable, expected: number, wrap: (err: unknown) => Error, mismatch: () => Error): Readable {
  const check = crc32Transform(expected, mismatch);
  source.on('error', (err) => check.destroy(wrap(err)));
  check.on('close', () => source.destroy()); // a reader that stops early frees the file
  return source.pipe(check);
}
