// A zip writer for the cases real tools rarely produce on demand (descriptors, forced ZIP64,
// wrong CRCs or sizes), shared by the zip tests and the fuzzers that mutate its output.
import { deflateRawSync, crc32 } from 'node:zlib';

export interface Spec {
  name: string;
  data: Buffer;
  method?: 0 | 8;
  descriptor?: boolean; // sizes and CRC after the data, zeros in the local header
  zip64?: boolean;
  crc?: number; // override, to damage
  declaredSize?: number; // override, to damage
}

/** A zip writer for the cases real tools rarely produce on demand. */
export function makeZip(specs: Spec[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  let any64 = false;
  for (const s of specs) {
    const method = s.method ?? 8;
    const body = method === 8 ? deflateRawSync(s.data) : s.data;
    const crc = s.crc ?? crc32(s.data);
    const size = s.declaredSize ?? s.data.length;
    const name = Buffer.from(s.name);
    const flags = (s.descriptor ? 0x8 : 0) | 0x800;
    const localOffset = offset;
    any64 ||= !!s.zip64;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(s.zip64 ? 45 : 20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0x21, 12);
    const localExtra = s.zip64 ? Buffer.alloc(20) : Buffer.alloc(0);
    if (s.zip64) {
      localExtra.writeUInt16LE(1, 0);
      localExtra.writeUInt16LE(16, 2);
      localExtra.writeBigUInt64LE(s.descriptor ? 0n : BigInt(size), 4);
      localExtra.writeBigUInt64LE(s.descriptor ? 0n : BigInt(body.length), 12);
    }
    if (!s.descriptor) {
      local.writeUInt32LE(crc >>> 0, 14);
      local.writeUInt32LE(s.zip64 ? 0xffffffff : body.length, 18);
      local.writeUInt32LE(s.zip64 ? 0xffffffff : size, 22);
    }
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(localExtra.length, 28);
    push(Buffer.concat([local, name, localExtra, body]));
    if (s.descriptor) {
      const d = Buffer.alloc(s.zip64 ? 24 : 16);
      d.writeUInt32LE(0x08074b50, 0);
      d.writeUInt32LE(crc >>> 0, 4);
      if (s.zip64) {
        d.writeBigUInt64LE(BigInt(body.length), 8);
        d.writeBigUInt64LE(BigInt(size), 16);
      } else {
        d.writeUInt32LE(body.length, 8);
        d.writeUInt32LE(size, 12);
      }
      push(d);
    }
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(45, 4);
    c.writeUInt16LE(s.zip64 ? 45 : 20, 6);
    c.writeUInt16LE(flags, 8);
    c.writeUInt16LE(method, 10);
    c.writeUInt16LE(0x21, 14);
    c.writeUInt32LE(crc >>> 0, 16);
    c.writeUInt32LE(s.zip64 ? 0xffffffff : body.length, 20);
    c.writeUInt32LE(s.zip64 ? 0xffffffff : size, 24);
    c.writeUInt16LE(name.length, 28);
    const extra = s.zip64 ? Buffer.alloc(28) : Buffer.alloc(0);
    if (s.zip64) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(size), 4);
      extra.writeBigUInt64LE(BigInt(body.length), 12);
      extra.writeBigUInt64LE(BigInt(localOffset), 20);
    }
    c.writeUInt16LE(extra.length, 30);
    c.writeUInt32LE(s.zip64 ? 0xffffffff : localOffset, 42);
    central.push(Buffer.concat([c, name, extra]));
  }
  const cd = Buffer.concat(central);
  const cdOffset = offset;
  push(cd);
  if (any64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(specs.length), 24);
    rec.writeBigUInt64LE(BigInt(specs.length), 32);
    rec.writeBigUInt64LE(BigInt(cd.length), 40);
    rec.writeBigUInt64LE(BigInt(cdOffset), 48);
    const recOffset = offset;
    push(rec);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(recOffset), 8);
    loc.writeUInt32LE(1, 16);
    push(loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(any64 ? 0xffff : specs.length, 8);
  eocd.writeUInt16LE(any64 ? 0xffff : specs.length, 10);
  eocd.writeUInt32LE(any64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(any64 ? 0xffffffff : cdOffset, 16);
  push(eocd);
  return Buffer.concat(parts);
}
