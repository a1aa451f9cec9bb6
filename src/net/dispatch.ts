// How every HTTP request leaves the process: through a proxy when the environment names one
// (with the semantics curl and @actions/http-client share, so the action's two HTTP stacks
// agree on every URL), and with a total deadline on the answer's headers (undici's own
// headersTimeout is re-armed by every 1xx answer, so a server trickling interim answers would
// hold a request forever).
import { isIP } from 'node:net';
import { Agent, Dispatcher, ProxyAgent } from 'undici';

type Env = Record<string, string | undefined>;

/** The proxy URL for `url`, or undefined to go direct. */
export function proxyFor(url: URL, env: Env = process.env): string | undefined {
  // http_proxy serves http: URLs only (as curl and @actions/http-client): an HTTPS call is
  // never sent to a proxy that was configured for plain HTTP.
  const proxy = url.protocol === 'https:' ? (env.https_proxy ?? env.HTTPS_PROXY) : url.protocol === 'http:' ? (env.http_proxy ?? env.HTTP_PROXY) : undefined;
  if (!proxy) return undefined;
  if (bypassed(url, env.no_proxy ?? env.NO_PROXY ?? '')) return undefined;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(proxy) ? proxy : `http://${proxy}`;
}

/** True when some variable names a proxy. */
export function proxyConfigured(env: Env = process.env): boolean {
  return ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'].some((v) => env[v]);
}

let sshNoticeGiven = false;
/** SSH transfers (SFTP, rsync over ssh) cannot go through an HTTP proxy: said once per run when one is set. */
export function noteSshIgnoresProxy(log: (line: string) => void, env: Env = process.env): void {
  if (sshNoticeGiven || !proxyConfigured(env)) return;
  sshNoticeGiven = true;
  log('A proxy is set (HTTPS_PROXY/HTTP_PROXY), but SSH transfers (SFTP, rsync) cannot use an HTTP proxy: this transfer connects directly to the data server.');
}

/**
 * NO_PROXY: entries split on commas or blanks, case-insensitive; `*` is everything; `name`,
 * `.name` and `*.name` match the name and its subdomains (`*.` only subdomains); `host:port`
 * only that port; an IP or CIDR (`10.0.0.0/8`) matches addresses. As in curl, loopback is
 * proxied unless listed (GitHub's @actions/http-client, used for artifacts and comments,
 * never proxies loopback names: list them in NO_PROXY and both stacks agree).
 */
export function bypassed(url: URL, noProxy: string): boolean {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  for (const raw of noProxy.split(/[,\s]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const m = /^(\[[^\]]+\]|[^:]+|[0-9a-f:]+)(?::(\d+))?$/.exec(entry.includes('::') && !entry.startsWith('[') ? `[${entry}]` : entry);
    if (!m) continue;
    if (m[2] && Number(m[2]) !== port) continue;
    const name = m[1].replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
    if (name.includes('/')) {
      if (inCidr(host, name)) return true;
      continue;
    }
    if (name.startsWith('*.')) {
      if (host.endsWith(name.slice(1))) return true;
      continue;
    }
    const bare = name.replace(/^\./, '');
    if (host === bare || host.endsWith(`.${bare}`)) return true;
  }
  return false;
}

function inCidr(host: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const a = ipBits(host);
  const b = ipBits(net);
  const bits = Number(bitsText);
  if (!a || !b || a.length !== b.length || !Number.isInteger(bits) || bits < 0 || bits > a.length) return false;
  return a.slice(0, bits) === b.slice(0, bits);
}

function ipBits(ip: string): string | undefined {
  if (isIP(ip) === 4) return ip.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('');
  if (isIP(ip) !== 6) return undefined;
  const [head, tail = ''] = ip.split('::');
  const parts = (s: string) => (s ? s.split(':') : []);
  const h = parts(head);
  const t = parts(tail);
  if (t.at(-1)?.includes('.') || h.at(-1)?.includes('.')) return undefined; // embedded IPv4: not worth the code
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.map((g) => parseInt(g, 16).toString(2).padStart(16, '0')).join('');
}

export interface DispatchOptions {
  connectTimeoutMs: number;
  /** From the end of the request to the final answer's headers, whatever arrives meanwhile. */
  headersDeadlineMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/** One dispatcher for the process: direct or through the proxy each URL asks for, headers deadline on every request. */
export function makeDispatcher(o: DispatchOptions, env: Env = process.env): Dispatcher {
  const options = { connect: { timeout: o.connectTimeoutMs }, headersTimeout: o.headersDeadlineMs, bodyTimeout: o.bodyTimeoutMs, keepAliveTimeout: o.keepAliveTimeoutMs };
  const direct = new Agent(options);
  const proxies = new Map<string, ProxyAgent>();
  const pick = (origin: unknown): Dispatcher => {
    const proxy = proxyFor(new URL(String(origin)), env);
    if (!proxy) return direct;
    let agent = proxies.get(proxy);
    if (!agent) proxies.set(proxy, (agent = new ProxyAgent({ ...options, uri: proxy })));
    return agent;
  };
  return new Routed(headersDeadline(o.headersDeadlineMs)((opts, handler) => pick(opts.origin).dispatch(opts, handler)), () => [direct, ...proxies.values()]);
}

class Routed extends Dispatcher {
  private readonly route: Dispatcher['dispatch'];
  private readonly agents: () => Dispatcher[];

  constructor(route: Dispatcher['dispatch'], agents: () => Dispatcher[]) {
    super();
    this.route = route;
    this.agents = agents;
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.route(opts, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const done = Promise.all(this.agents().map((a) => a.close())).then(() => undefined);
    if (!callback) return done;
    void done.then(callback);
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' ? null : (a ?? null);
    const callback = typeof a === 'function' ? a : b;
    const done = Promise.all(this.agents().map((d) => d.destroy(err))).then(() => undefined);
    if (!callback) return done;
    void done.then(callback);
  }
}

/**
 * Fails a request whose final (non-1xx) headers have not arrived `ms` after the request was
 * sent, however many interim answers or header bytes trickled in meanwhile.
 */
export function headersDeadline(ms: number): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) => {
    let controller: { abort(reason: Error): void } | undefined;
    let timer: NodeJS.Timeout | undefined;
    let expired: Error | undefined;
    const stop = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    };
    const wrapped: Dispatcher.DispatchHandler = {
      onRequestStart(ctrl, context) {
        controller = ctrl;
        handler.onRequestStart?.(ctrl, context);
        if (expired) ctrl.abort(expired);
      },
      onRequestUpgrade: handler.onRequestUpgrade?.bind(handler),
      onRequestSent() {
        stop();
        timer = setTimeout(() => {
          const seconds = ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
          expired = Object.assign(new Error(`No complete answer from the server within ${seconds} of the request (headers timeout).`), { code: 'ETIMEDOUT' });
          controller?.abort(expired);
        }, ms);
        timer.unref();
        (handler as { onRequestSent?: () => void }).onRequestSent?.();
      },
      onResponseStart(ctrl, statusCode, headers, statusMessage) {
        if (statusCode >= 200) stop();
        return handler.onResponseStart?.(ctrl, statusCode, headers, statusMessage);
      },
      onResponseData: (ctrl, chunk) => handler.onResponseData?.(ctrl, chunk),
      onResponseEnd(ctrl, trailers) {
        stop();
        handler.onResponseEnd?.(ctrl, trailers);
      },
      onResponseError(ctrl, err) {
        stop();
        handler.onResponseError?.(ctrl, err);
      },
    };
    return dispatch(opts, wrapped);
  };
}
