// ustar members, with a way to write any size field (negative, huge, base-256, garbage).
export function tarHeader(name: string, size: number, opts: { type?: string; sizeField?: Buffer } = {}): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  (opts.sizeField ?? Buffer.from(size.toString(8).padStart(11, '0') + '\0')).copy(h, 124, 0, 12);
  h.write('00000000000\0', 136);
  h.write(opts.type ?? '0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

export function tarMember(name: string, data: Buffer, type = '0'): Buffer {
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([tarHeader(name, data.length, { type }), data, pad]);
}

export function tarArchive(members: { name: string; data: Buffer }[]): Buffer {
  return Buffer.concat([...members.map((m) => tarMember(m.name, m.data)), Buffer.alloc(1024)]);
}
