// In-memory ZIP for the GitHub fake and tests, on yauzl (read) and yazl (write): read what
// @actions/artifact uploads (archiver output: stored or deflated entries, data descriptors,
// zip64) and write small stored archives to seed artifacts of "other runs". Whole archives
// in memory: test-sized only.
import { buffer as collect } from 'node:stream/consumers';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import yazl from 'yazl';

/** Unzips a whole archive: entry name -> bytes (directories left out). yauzl checks sizes, we check CRCs. */
export async function readZip(zip: Buffer): Promise<Map<string, Buffer>> {
  const file = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(zip, { lazyEntries: true, decodeStrings: true, validateEntrySizes: true }, (err, f) => (err ? reject(err) : resolve(f))),
  );
  const out = new Map<string, Buffer>();
  try {
    for (;;) {
      const entry = await new Promise<yauzl.Entry | undefined>((resolve, reject) => {
        file.once('entry', resolve);
        file.once('end', () => resolve(undefined));
        file.once('error', reject);
        file.readEntry();
      });
      file.removeAllListeners('entry').removeAllListeners('end').removeAllListeners('error');
      if (!entry) break;
      if (entry.fileName.endsWith('/')) continue;
      const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
        file.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))),
      );
      const data = await collect(stream);
      if (crc32(data) >>> 0 !== entry.crc32 >>> 0) throw new Error(`zip: CRC mismatch in ${entry.fileName}`);
      out.set(entry.fileName, data);
    }
  } finally {
    file.close();
  }
  return out;
}

/**
 * A stored (uncompressed) archive of the given files, byte-identical for the same input. Names
 * yazl refuses (`../x`, `/abs`: what hostile archives in tests hold) are written under a
 * placeholder of the same byte length, then patched in, local header and central directory alike.
 */
export async function writeStoredZip(files: Record<string, Buffer>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  // A fixed date, so archives are reproducible.
  const mtime = new Date(1980, 0, 1);
  const patches: Array<[Buffer, Buffer]> = [];
  for (const [name, data] of Object.entries(files)) {
    let stored = name;
    if (!yazlAccepts(name)) {
      const bytes = Buffer.from(name, 'utf8');
      stored = `p${patches.length}`.padEnd(bytes.length, '_');
      if (Buffer.byteLength(stored) !== bytes.length) throw new Error(`cannot write the hostile name "${name}" (too short)`);
      patches.push([Buffer.from(stored), bytes]);
    }
    zip.addBuffer(data, stored, { compress: false, mtime });
  }
  zip.end();
  const out = await collect(zip.outputStream);
  for (const [from, to] of patches) {
    for (let at = out.indexOf(from); at >= 0; at = out.indexOf(from, at + to.length)) to.copy(out, at);
  }
  return out;
}

function yazlAccepts(name: string): boolean {
  try {
    new yazl.ZipFile().addBuffer(Buffer.alloc(0), name);
    return true;
  } catch {
    return false;
  }
}
