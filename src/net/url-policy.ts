// One policy for the addresses the action talks to: https everywhere, plain http only on a
// loopback address (the emulator, a local test server), never credentials inside a URL.

/** 127.0.0.0/8, localhost and ::1 (bare or in brackets, as URL.hostname gives it). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '[::1]' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Why a URL given as an input is refused (a sentence fragment), or undefined when it is fine. */
export function urlProblem(raw: string, isPlatform: boolean): string | undefined {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return `must be an absolute URL such as \`https://upgrade.odoo.com\`, got "${raw.slice(0, 80)}".`;
  }
  if (u.username || u.password) return 'must not carry credentials (user:password@); pass secrets through their own inputs.';
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopbackHost(u.hostname))) {
    return `must use https:// (http:// is only allowed on a loopback address), got "${u.protocol}//${u.host}".`;
  }
  if (isPlatform && (u.search || u.hash)) return 'must be a base URL without query string or fragment.';
  if (isPlatform && u.pathname !== '/' && u.pathname !== '') return `must be a base URL (scheme and host), got path "${u.pathname}".`;
  return undefined;
}
