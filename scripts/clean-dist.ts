// After ncc: dist/ carries no native addon (see native-addons.ts).
import path from 'node:path';
import { removeNativeAddons } from './native-addons.ts';

await removeNativeAddons(path.resolve(import.meta.dirname, '..', 'dist'));
