// Property tests of the ZIP reader (yauzl behind src/formats/zip.ts): what is written reads back
// byte for byte, in every layout (deflate or stored, data descriptors, ZIP64); damage of any kind
// surfaces as a ZipFormatError from the listing or the entry's stream, never another error or a hang.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { listZip, openZipEntry, openZip, ZipFormatError } from '../src/formats/zip.ts';
import { makeZip, type Spec } from './support/zip-writer.ts';
import { params } from './support/fuzz.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fuzz-zip-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function read(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const spec: fc.Arbitrary<Spec> = fc.record({
  name: fc.stringMatching(/^[a-z0-9_][a-z0-9_./-]{0,30}$/),
  data: fc.oneof(fc.uint8Array({ maxLength: 2000 }), fc.string({ maxLength: 3000 }).map((s) => new TextEncoder().encode(s))).map((u) => Buffer.from(u)),
  method: fc.constantFrom(0 as const, 8 as const),
  descriptor: fc.boolean(),
  zip64: fc.boolean(),
});
const specs = fc.uniqueArray(spec, { minLength: 1, maxLength: 6, selector: (s) => s.name });

test('what is written reads back byte for byte: stored, deflate, descriptors, ZIP64', async () => {
  await fc.assert(
    fc.asyncProperty(specs, async (ss) => {
      const p = join(dir, `${n++}.zip`);
      await writeFile(p, makeZip(ss));
      const zip = await openZip(p);
      try {
        assert.deepEqual(
          zip.entries.map((e) => [e.name, e.size]),
          ss.map((s) => [s.name, s.data.length]),
        );
        for (const [i, e] of zip.entries.entries()) assert.ok((await read(await zip.open(e))).equals(ss[i].data), e.name);
      } finally {
        zip.close();
      }
    }),
    params(RUNS),
  );
});

test('damage of any kind is a ZipFormatError from the listing or the stream, never another error', async () => {
  const damage = fc.array(fc.tuple(fc.nat(), fc.oneof(fc.integer({ min: 1, max: 255 }), fc.constant(-1))), { minLength: 1, maxLength: 4 });
  await fc.assert(
    fc.asyncProperty(specs, damage, async (ss, hits) => {
      const b = makeZip(ss);
      let out = Buffer.from(b);
      for (const [at, x] of hits) {
        if (x === -1) out = out.subarray(0, at % out.length);
        else out[at % out.length] ^= x;
      }
      const p = join(dir, `${n++}.zip`);
      await writeFile(p, out);
      try {
        for (const e of await listZip(p)) await read(await openZipEntry(p, e));
      } catch (err) {
        assert.ok(err instanceof ZipFormatError, `${(err as Error).name}: ${(err as Error).message}`);
      }
    }),
    params(RUNS),
  );
});

test('a wrong CRC-32 or size is caught while streaming (yauzl checks sizes; the CRC check is ours)', async () => {
  await fc.assert(
    fc.asyncProperty(spec.filter((s) => s.data.length > 0), fc.integer({ min: 1, max: 0xffffffff }), async (s, delta) => {
      const p = join(dir, `${n++}.zip`);
      await writeFile(p, makeZip([{ ...s, crc: (crc(s.data) + delta) >>> 0 }]));
      const [e] = await listZip(p);
      await assert.rejects(read(await openZipEntry(p, e)), (err: Error) => err instanceof ZipFormatError && /CRC-32/.test(err.message));
    }),
    params(Math.max(1, Math.ceil(RUNS / 4))),
  );
});

function crc(b: Buffer): number {
  return makeZip([{ name: 'x', data: b, method: 0 }]).readUInt32LE(14);
}

test('a ZIP64 locator pointing past 2^53 is a ZipFormatError (yauzl read there unchecked and fs threw out of a callback)', async () => {
  const z = makeZip([{ name: 'dump.sql', data: Buffer.from('SELECT 1;\n'), zip64: true }]);
  const loc = z.lastIndexOf(Buffer.from([0x50, 0x4b, 6, 7]));
  for (const offset of [2n ** 53n + 383n, 2n ** 63n, BigInt(z.length)]) {
    const forged = Buffer.from(z);
    forged.writeBigUInt64LE(offset, loc + 8);
    const p = join(dir, `${n++}.zip`);
    await writeFile(p, forged);
    await assert.rejects(listZip(p), (err: Error) => err instanceof ZipFormatError && /outside the file|signature/.test(err.message), String(offset));
  }
});
