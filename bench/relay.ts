// `node bench/relay.ts <listen host> <listen port> <target host> <target port> <delay ms>`:
// the delaying relay of proxy.ts as its own process (run inside the bench's namespace).
// Prints "ready" once listening; stops on SIGTERM.
import { startDelayRelay } from './proxy.ts';

const [listenHost, listenPort, targetHost, targetPort, delay] = process.argv.slice(2);
const relay = await startDelayRelay(Number(targetPort), Number(delay), 60 * 60_000, { listenHost, listenPort: Number(listenPort), targetHost });
console.log('ready');
process.on('SIGTERM', () => void relay.close().then(() => process.exit(0)));
