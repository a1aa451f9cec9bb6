// The file under yauzl, read through a reader that answers a read outside the file with an
// error. yauzl 3.4 reads where a ZIP64 locator points without a bounds check, and past 2^53
// fs.read throws out of a callback: an uncaught RangeError that ends the process.
import { close, createReadStream, fstat, open, read } from 'node:fs';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import yauzl from 'yauzl';

export class OutsideFileError extends Error {}

class BoundedFileReader extends yauzl.RandomAccessReader {
  readonly path: string;
  readonly fd: number;
  readonly size: number;

  constructor(path: string, fd: number, size: number) {
    super();
    this.path = path;
    this.fd = fd;
    this.size = size;
  }

  override _readStreamForRange(start: number, end: number): Readable {
    if (!(start >= 0 && end <= this.size)) throw new OutsideFileError(`bytes ${start} to ${end} lie outside the file's ${this.size}`);
    // Its own descriptor: a stream sharing the reader's would see it closed under it when yauzl lets go.
    return createReadStream(this.path, { start, end: end - 1, highWaterMark: 1 << 20 });
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, cb: (err: Error | null, bytesRead?: number) => void): void {
    if (!(position >= 0 && position + length <= this.size)) {
      setImmediate(cb, new OutsideFileError(`a record at offset ${position} lies outside the file's ${this.size} bytes`));
      return;
    }
    read(this.fd, buffer, offset, length, position, (err, n) => cb(err, n));
  }

  override close(cb: (err: Error | null) => void): void {
    close(this.fd, cb);
  }
}

/** yauzl over `path`; the file closes when the ZipFile and every stream it opened are done. */
export async function openBounded(path: string, options: yauzl.Options): Promise<yauzl.ZipFile> {
  const fd = await promisify(open)(path, 'r');
  try {
    const { size } = await promisify(fstat)(fd);
    return await yauzl.fromRandomAccessReaderPromise(new BoundedFileReader(path, fd, size), size, options);
  } catch (err) {
    close(fd, () => {}); // yauzl leaves a reader it could not open to its owner
    throw err;
  }
}
