import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadOrCreateKeyPair, writeKeyFiles, makeKeyDir, SshKeyError, type KeyPair } from '../src/transfer/ssh-keys.ts';
import { SecretRegistry } from '../src/secrets.ts';

const quiet = () => new SecretRegistry(() => {});

function withDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(path.join(tmpdir(), 'ssh-keys-test-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A key made by OpenSSH's own ssh-keygen: [private text, public blob base64]. */
function keygen(dir: string, name: string, args: string[]): [string, string] {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', 'user@example', '-f', file, ...args]);
  return [readFileSync(file, 'utf8'), readFileSync(`${file}.pub`, 'utf8').split(' ')[1]];
}

/** The public key OpenSSH derives from a private key file (proves it can load the file). */
function openSshPublicBlob(file: string): string {
  return execFileSync('ssh-keygen', ['-y', '-f', file]).toString().trim().split(' ')[1];
}

function openSshFingerprint(publicKeyLine: string): string {
  return execFileSync('ssh-keygen', ['-l', '-f', '-'], { input: publicKeyLine }).toString().split(' ')[1];
}

test('an empty input makes an ephemeral ed25519 pair and registers the private key as a secret', () => {
  const masked: string[] = [];
  const registry = new SecretRegistry((v) => masked.push(v));
  const pair = loadOrCreateKeyPair('  ', registry);
  assert.equal(pair.ephemeral, true);
  assert.match(pair.publicKey, /^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ odoo-upgrade-action$/);
  assert.match(pair.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----/);
  assert.equal(pair.fingerprint, openSshFingerprint(pair.publicKey));
  assert.ok(registry.has(pair.privateKey.trim()));
  assert.ok(masked.length > 2, 'each line of the key is masked for the runner');
  assert.equal(registry.redact(`key: ${pair.privateKey}`).includes('PRIVATE KEY-----\n'), false);
  assert.notEqual(loadOrCreateKeyPair(undefined, quiet()).publicKey, pair.publicKey, 'each run gets a fresh pair');
});

test('ephemeral keys are always well-formed, also when the public key starts with a zero byte', () => {
  // ssh2's own generator drops such leading zeros (a malformed key about 1 time in 256).
  withDir((dir) => {
    let zeroLed: KeyPair | undefined;
    for (let i = 0; i < 5000 && !zeroLed; i++) {
      const pair = loadOrCreateKeyPair(undefined, quiet());
      const blob = Buffer.from(pair.publicKey.split(' ')[1], 'base64');
      assert.equal(blob.length, 4 + 11 + 4 + 32);
      if (blob[19] === 0) zeroLed = pair;
    }
    assert.ok(zeroLed, 'found a key whose public half starts with 0x00');
    const file = path.join(dir, 'zero');
    execFileSync('sh', ['-c', 'umask 077 && cat > "$1"', 'sh', file], { input: `${zeroLed.privateKey}\n` });
    assert.equal(openSshPublicBlob(file), zeroLed.publicKey.split(' ')[1]);
  });
});

test('user keys in OpenSSH, PEM and PKCS#8 forms give the same public key as ssh-keygen, readable by OpenSSH', () => {
  withDir((dir) => {
    const cases: Array<[string, string[]]> = [
      ['ed25519', ['-t', 'ed25519']],
      ['rsa-pem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM']],
      ['ecdsa-pem', ['-t', 'ecdsa', '-b', '256', '-m', 'PEM']],
      ['rsa-pkcs8', ['-t', 'rsa', '-b', '2048', '-m', 'PKCS8']],
      ['ecdsa-pkcs8', ['-t', 'ecdsa', '-b', '384', '-m', 'PKCS8']],
    ];
    for (const [name, args] of cases) {
      const [priv, pubBlob] = keygen(dir, name, args);
      const registry = quiet();
      const pair = loadOrCreateKeyPair(priv, registry);
      assert.equal(pair.ephemeral, false, name);
      assert.equal(pair.publicKey.split(' ')[1], pubBlob, name);
      assert.ok(pair.publicKey.endsWith(' odoo-upgrade-action'), name);
      assert.equal(pair.fingerprint, openSshFingerprint(pair.publicKey), name);
      assert.ok(registry.has(priv.trim()), `${name}: the input is a secret`);
      assert.ok(registry.has(pair.privateKey), `${name}: the converted form is a secret too`);
      // OpenSSH itself must read what we hand to it (the rsync transport runs ssh).
      const out = path.join(dir, `${name}.out`);
      execFileSync('sh', ['-c', 'umask 077 && cat > "$1"', 'sh', out], { input: `${pair.privateKey}\n` });
      assert.equal(openSshPublicBlob(out), pubBlob, name);
    }
  });
});

test('an ed25519 PKCS#8 key (as openssl writes it) is converted to the OpenSSH form', () => {
  withDir((dir) => {
    const made = generateKeyPairSync('ed25519');
    const pem = String(made.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const pubDer = made.publicKey.export({ type: 'spki', format: 'der' });
    const pair = loadOrCreateKeyPair(pem, quiet());
    assert.match(pair.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----/);
    const blob = Buffer.from(pair.publicKey.split(' ')[1], 'base64');
    assert.deepEqual(blob.subarray(-32), pubDer.subarray(-32), 'same raw public key');
    const file = path.join(dir, 'k');
    execFileSync('sh', ['-c', 'umask 077 && cat > "$1"', 'sh', file], { input: `${pair.privateKey}\n` });
    assert.equal(openSshPublicBlob(file), pair.publicKey.split(' ')[1]);
  });
});

test('keys pasted with CRLF or literal \\n are accepted', () => {
  withDir((dir) => {
    const [priv, pubBlob] = keygen(dir, 'k', ['-t', 'ed25519']);
    assert.equal(loadOrCreateKeyPair(priv.replace(/\n/g, '\r\n'), quiet()).publicKey.split(' ')[1], pubBlob);
    assert.equal(loadOrCreateKeyPair(priv.trim().replace(/\n/g, '\\n'), quiet()).publicKey.split(' ')[1], pubBlob);
  });
});

test('public keys, encrypted keys and other text are refused with an error naming ssh-private-key', () => {
  withDir((dir) => {
    const [, pubBlob] = keygen(dir, 'plain', ['-t', 'ed25519']);
    const pubLine = readFileSync(path.join(dir, 'plain.pub'), 'utf8');
    const encrypted = (name: string, args: string[]) => {
      const file = path.join(dir, name);
      execFileSync('ssh-keygen', ['-q', '-N', 'secret-pass', '-f', file, ...args]);
      return readFileSync(file, 'utf8');
    };
    const rfc4716 = execFileSync('ssh-keygen', ['-e', '-f', path.join(dir, 'plain.pub')]).toString();
    const cases: Array<[string, string, RegExp]> = [
      ['public key line', pubLine, /public key/],
      ['RFC 4716 public key', rfc4716, /public key/],
      ['encrypted OpenSSH key', encrypted('enc1', ['-t', 'ed25519']), /encrypted|passphrase/],
      ['encrypted PEM key', encrypted('enc2', ['-t', 'rsa', '-b', '2048', '-m', 'PEM']), /encrypted|passphrase/],
      ['encrypted PKCS#8 key', encrypted('enc3', ['-t', 'ecdsa', '-b', '256', '-m', 'PKCS8']), /encrypted|passphrase/],
      ['random text', 'not a key at all', /not a private key/],
      ['damaged key', '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAbm9wZQ==\n-----END OPENSSH PRIVATE KEY-----', /could not be read/],
    ];
    for (const [name, input, reason] of cases) {
      assert.throws(
        () => loadOrCreateKeyPair(input, quiet()),
        (err: Error) => {
          assert.ok(err instanceof SshKeyError, name);
          assert.match(err.message, /`ssh-private-key`/, name);
          assert.match(err.message, reason, name);
          assert.ok(!err.message.includes(pubBlob.slice(0, 30)), `${name}: no key material in the message`);
          return true;
        },
      );
    }
  });
});

test('writeKeyFiles writes the private key 0600 and the public key, and cleans up', async () => {
  const { dir, cleanup } = await makeKeyDir();
  try {
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const pair = loadOrCreateKeyPair(undefined, quiet());
    const files = await writeKeyFiles(pair, dir);
    assert.equal(statSync(files.privateKeyPath).mode & 0o777, 0o600);
    assert.equal(readFileSync(files.publicKeyPath, 'utf8'), `${pair.publicKey}\n`);
    // ssh refuses private keys other users can read: this is what it will load.
    assert.equal(openSshPublicBlob(files.privateKeyPath), pair.publicKey.split(' ')[1]);
    await files.cleanup();
    assert.equal(existsSync(files.privateKeyPath), false);
    assert.equal(existsSync(files.publicKeyPath), false);
  } finally {
    await cleanup();
  }
  assert.equal(existsSync(dir), false);
});
