// Entry point. The first import sets __dirname/__filename: ssh2 reads them at load time
// and they do not exist in an ESM bundle.
import './shim.ts';
import { run } from './main.ts';

await run();
