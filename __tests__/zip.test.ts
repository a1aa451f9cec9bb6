import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeZip } from './support/zip-writer.ts';
import { listZip, openZipEntry, ZipFormatError } from '../src/formats/zip.ts';

const run = promisify(execFile);
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zip-test-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function readEntry(path: string, name: string): Promise<Buffer> {
  const entry = (await listZip(path)).find((e) => e.name === name);
  assert.ok(entry, `no entry ${name}`);
  const chunks: Buffer[] = [];
  for await (const c of await openZipEntry(path, entry)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('reads what the zip CLI writes: deflate, stored folders, nested names', async () => {
  const src = join(dir, 'cli');
  await mkdir(join(src, 'filestore', 'ab'), { recursive: true });
  const sql = Buffer.from('-- SQL\n' + 'INSERT INTO t VALUES (1);\n'.repeat(20000));
  const blob = randomBytes(50_000);
  await writeFile(join(src, 'dump.sql'), sql);
  await writeFile(join(src, 'filestore', 'ab', 'abcdef'), blob);
  const zip = join(dir, 'cli.zip');
  await run('zip', ['-qr', zip, 'dump.sql', 'filestore'], { cwd: src });
  const entries = await listZip(zip);
  assert.deepEqual(entries.map((e) => e.name).sort(), ['dump.sql', 'filestore/', 'filestore/ab/', 'filestore/ab/abcdef']);
  const dump = entries.find((e) => e.name === 'dump.sql')!;
  assert.equal(dump.method, 8);
  assert.equal(dump.size, sql.length);
  assert.ok(dump.compressedSize < sql.length);
  assert.ok(entries.find((e) => e.name === 'filestore/')!.isDirectory);
  assert.ok((await readEntry(zip, 'dump.sql')).equals(sql));
  assert.ok((await readEntry(zip, 'filestore/ab/abcdef')).equals(blob));
});

test('reads a streamed zip (data descriptors) and a forced ZIP64 zip from the zip CLI', async () => {
  const data = randomBytes(300_000);
  const streamed = join(dir, 'streamed.zip');
  // Output into a pipe: zip cannot seek back, so sizes go in data descriptors.
  await run('sh', ['-c', `head -c 300000 /dev/zero | tr '\\0' 'x' | zip -q - - | cat > '${streamed}'`]);
  const raw = await readFile(streamed);
  assert.equal(raw.readUInt16LE(6) & 0x8, 0x8, 'the local header defers sizes to a data descriptor');
  const [e] = await listZip(streamed);
  assert.equal(e.name, '-');
  assert.equal(e.size, 300_000);
  assert.ok((await readEntry(streamed, '-')).equals(Buffer.alloc(300_000, 'x')));

  await writeFile(join(dir, 'big.bin'), data);
  const z64 = join(dir, 'z64.zip');
  await run('zip', ['-q', '-fz', z64, 'big.bin'], { cwd: dir });
  assert.ok((await readFile(z64)).includes(Buffer.from([0x50, 0x4b, 0x06, 0x06])), 'a ZIP64 end record');
  assert.ok((await readEntry(z64, 'big.bin')).equals(data));
});

test('handmade: stored + descriptor, ZIP64 extra fields, UTF-8 names', async () => {
  const a = randomBytes(10_000);
  const b = Buffer.from('hello '.repeat(1000));
  const path = join(dir, 'hand.zip');
  await writeFile(path, makeZip([
    { name: 'stored.bin', data: a, method: 0, descriptor: true },
    { name: 'dossier/été.txt', data: b, zip64: true, descriptor: true },
    { name: 'empty.txt', data: Buffer.alloc(0), method: 0 },
  ]));
  const entries = await listZip(path);
  assert.deepEqual(entries.map((e) => e.name), ['stored.bin', 'dossier/été.txt', 'empty.txt']);
  assert.ok((await readEntry(path, 'stored.bin')).equals(a));
  assert.ok((await readEntry(path, 'dossier/été.txt')).equals(b));
  assert.equal((await readEntry(path, 'empty.txt')).length, 0);
});

test('damage surfaces as errors: CRC, size, truncation, not a zip, unsupported method', async () => {
  const data = Buffer.from('some content '.repeat(500));
  const badCrc = join(dir, 'badcrc.zip');
  await writeFile(badCrc, makeZip([{ name: 'dump.sql', data, crc: 12345 }]));
  await assert.rejects(readEntry(badCrc, 'dump.sql'), /CRC-32/);

  const badSize = join(dir, 'badsize.zip');
  await writeFile(badSize, makeZip([{ name: 'dump.sql', data, method: 0, declaredSize: data.length + 10 }]));
  await assert.rejects(listZip(badSize).then((es) => readEntry(badSize, es[0].name)), ZipFormatError);

  const good = makeZip([{ name: 'dump.sql', data }]);
  for (const cut of [good.length - 1, good.length - 30, Math.floor(good.length / 2), 10]) {
    const p = join(dir, `cut-${cut}.zip`);
    await writeFile(p, good.subarray(0, cut));
    await assert.rejects(listZip(p), (e: Error) => e instanceof ZipFormatError, `cut at ${cut}`);
  }

  const random = join(dir, 'random.zip');
  await writeFile(random, randomBytes(5000));
  await assert.rejects(listZip(random), /end-of-central-directory/);

  // A damaged compressed body: deflate fails or the CRC does, never silent.
  const flipped = Buffer.from(good);
  flipped[60] ^= 0xff;
  const flippedPath = join(dir, 'flipped.zip');
  await writeFile(flippedPath, flipped);
  await assert.rejects(readEntry(flippedPath, 'dump.sql'));

  const bz = Buffer.from(good);
  bz.writeUInt16LE(12, 8); // local header method
  bz.writeUInt16LE(12, good.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 10);
  const bzPath = join(dir, 'bzip2.zip');
  await writeFile(bzPath, bz);
  const [entry] = await listZip(bzPath);
  assert.equal(entry.method, 12);
  await assert.rejects(openZipEntry(bzPath, entry), /bzip2/);
});

test('an empty zip lists nothing', async () => {
  const p = join(dir, 'empty.zip');
  await writeFile(p, makeZip([]));
  assert.deepEqual(await listZip(p), []);
  assert.equal((await readFile(p)).length, 22);
});
