// Checks an authorized_keys-style text the way the platform documents it: public keys,
// blank lines and `#` comments only. A key's blob must decode and name its own type, so a
// pasted private key or a truncated line is refused (by line number: never echo the text).

const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ssh-dss',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);
// authorized_keys options before the key (`restrict`, `from="10.0.0.1"`, ...), without spaces.
const OPTIONS = /^[A-Za-z0-9-]+(="[^"\s]*")?(,[A-Za-z0-9-]+(="[^"\s]*")?)*$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export interface KeysCheck { keys: number; badLines: number[] }

export function checkAuthorizedKeys(text: string): KeysCheck {
  let keys = 0;
  const badLines: number[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (isKeyLine(line)) keys++;
    else badLines.push(i + 1);
  });
  return { keys, badLines };
}

function isKeyLine(line: string): boolean {
  const tokens = line.split(/\s+/);
  if (isKey(tokens[0], tokens[1])) return true;
  return OPTIONS.test(tokens[0]!) && isKey(tokens[1], tokens[2]);
}

function isKey(type: string | undefined, b64: string | undefined): boolean {
  if (!type || !b64 || !KEY_TYPES.has(type) || !BASE64.test(b64) || b64.length % 4 !== 0) return false;
  const blob = Buffer.from(b64, 'base64');
  if (blob.length < 4) return false;
  const len = blob.readUInt32BE(0);
  return len === type.length && blob.length > 4 + len && blob.toString('latin1', 4, 4 + len) === type;
}
