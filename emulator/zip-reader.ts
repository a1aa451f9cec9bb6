// Just enough ZIP for the GitHub fake: read what @actions/artifact uploads (archiver output:
// stored or deflated entries, data descriptors, zip64 past 4 GiB) and write small stored
// archives to seed artifacts of "other runs". Whole archives in memory: test-sized only.
import { crc32, inflateRawSync } from 'node:zlib';

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const UTF8_FLAG = 0x0800;
const MAX16 = 0xffff;
const MAX32 = 0xffffffff;

/** Unzips a whole archive: entry name -> bytes (directories left out). Checks every CRC. */
export function readZip(zip: Buffer): Map<string, Buffer> {
  const dir = centralDirectory(zip);
  const out = new Map<string, Buffer>();
  let at = dir.offset;
  for (let i = 0; i < dir.count; i++) {
    if (zip.readUInt32LE(at) !== CENTRAL) throw new Error(`zip: bad central directory entry at ${at}`);
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    let compressed = zip.readUInt32LE(at + 20);
    let size = zip.readUInt32LE(at + 24);
    const nameLen = zip.readUInt16LE(at + 28);
    const extraLen = zip.readUInt16LE(at + 30);
    const commentLen = zip.readUInt16LE(at + 32);
    let local = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLen);
    // Zip64 extra field: only the fields saturated in the fixed header are present, in this order.
    const extra = zip.subarray(at + 46 + nameLen, at + 46 + nameLen + extraLen);
    for (let e = 0; e + 4 <= extra.length; e += 4 + extra.readUInt16LE(e + 2)) {
      if (extra.readUInt16LE(e) !== 0x0001) continue;
      let f = e + 4;
      if (size === MAX32) {
        size = Number(extra.readBigUInt64LE(f));
        f += 8;
      }
      if (compressed === MAX32) {
        compressed = Number(extra.readBigUInt64LE(f));
        f += 8;
      }
      if (local === MAX32) local = Number(extra.readBigUInt64LE(f));
    }
    at += 46 + nameLen + extraLen + commentLen;
    if (name.endsWith('/')) continue;

    if (zip.readUInt32LE(local) !== LOCAL) throw new Error(`zip: bad local header for ${name}`);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, start + compressed);
    let data: Buffer;
    if (method === 0) data = raw;
    else if (method === 8) data = inflateRawSync(raw);
    else throw new Error(`zip: ${name} uses unsupported method ${method}`);
    if (data.length !== size) throw new Error(`zip: ${name} is ${data.length} bytes, directory says ${size}`);
    if (crc32(data) !== crc) throw new Error(`zip: CRC mismatch in ${name}`);
    out.set(name, Buffer.from(data));
  }
  return out;
}

function centralDirectory(zip: Buffer): { count: number; offset: number } {
  const floor = Math.max(0, zip.length - 22 - MAX16);
  let eocd = -1;
  for (let i = zip.length - 22; i >= floor; i--) {
    if (zip.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('zip: end of central directory not found');
  let count = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  if ((count === MAX16 || offset === MAX32) && eocd >= 20 && zip.readUInt32LE(eocd - 20) === ZIP64_LOCATOR) {
    const rec = Number(zip.readBigUInt64LE(eocd - 20 + 8));
    if (zip.readUInt32LE(rec) !== ZIP64_EOCD) throw new Error('zip: bad zip64 end record');
    count = Number(zip.readBigUInt64LE(rec + 32));
    offset = Number(zip.readBigUInt64LE(rec + 48));
  }
  return { count, offset };
}

/** A stored (uncompressed) archive of the given files, byte-identical for the same input. */
export function writeStoredZip(files: Record<string, Buffer>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const nameBuf = Buffer.from(name, 'utf8');
    if (data.length >= MAX32 || offset >= MAX32) throw new Error('writeStoredZip: too large for a test archive');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(UTF8_FLAG, 6);
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10); // time 00:00:00
    local.writeUInt16LE(0x21, 12); // date 1980-01-01: fixed, so archives are reproducible
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(CENTRAL, 0);
    central.writeUInt16LE(20, 4); // made by
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(UTF8_FLAG, 8);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, data);
    centrals.push(central, nameBuf);
    offset += 30 + nameBuf.length + data.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const count = Object.keys(files).length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(EOCD, 0);
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}
