// A realistic link for the benchmark: a network namespace made by the bench, joined to the
// host by a veth pair whose both ends are shaped to 1 Gbit/s (tc tbf), and a 25 ms delay in
// each direction added by a relay inside the namespace. This kernel has no sch_netem
// (CONFIG_NET_SCH_NETEM is not set), so the delay cannot come from tc here.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Link {
  ns: string;
  hostAddr: string;
  nsAddr: string;
  /** Starts the delay relay in the namespace: nsAddr:listenPort → 127.0.0.1:targetPort (inside). */
  relay(listenPort: number, targetPort: number, delayMs: number): Promise<() => Promise<void>>;
  close(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

export function netnsAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    execFileSync('tc', ['-V'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'ip/tc (iproute2) missing';
  }
}

export function makeLink(rate = '1gbit'): Link {
  const id = process.pid % 100_000;
  const ns = `oua-bench-${id}`;
  const a = `oub${id}a`;
  const b = `oub${id}b`;
  const octet = 16 + (id % 200);
  const hostAddr = `10.213.${octet}.1`;
  const nsAddr = `10.213.${octet}.2`;
  ip('netns', 'add', ns);
  try {
    ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
    ip('link', 'set', b, 'netns', ns);
    ip('addr', 'add', `${hostAddr}/24`, 'dev', a);
    ip('link', 'set', a, 'up');
    ip('-n', ns, 'addr', 'add', `${nsAddr}/24`, 'dev', b);
    ip('-n', ns, 'link', 'set', b, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    // Each direction: 1 Gbit/s, a bucket of 1 MiB (above rate/HZ), at most 50 ms queued.
    const tbf = ['qdisc', 'add', 'dev', '', 'root', 'tbf', 'rate', rate, 'burst', '1mb', 'latency', '50ms'];
    execFileSync('tc', tbf.map((x) => (x === '' ? a : x)));
    execFileSync('ip', ['netns', 'exec', ns, 'tc', ...tbf.map((x) => (x === '' ? b : x))]);
  } catch (err) {
    try {
      ip('netns', 'del', ns);
    } catch {}
    throw err;
  }
  const children = new Set<ChildProcess>();
  return {
    ns,
    hostAddr,
    nsAddr,
    async relay(listenPort, targetPort, delayMs) {
      const script = path.join(import.meta.dirname, 'relay.ts');
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, script, nsAddr, String(listenPort), '127.0.0.1', String(targetPort), String(delayMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.add(child);
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('exit', (c) => reject(new Error(`relay exited (${c})`)));
      });
      return async () => {
        if (child.exitCode === null) child.kill('SIGTERM');
        await exited;
        children.delete(child);
      };
    },
    close() {
      for (const c of children) c.kill('SIGKILL');
      try {
        ip('netns', 'del', ns); // the veth pair goes with it
      } catch {}
      void sleep(0);
    },
  };
}
