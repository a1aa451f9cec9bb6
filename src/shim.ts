import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';

const g = globalThis as { __dirname?: string; __filename?: string };
g.__filename ??= fileURLToPath(import.meta.url);
g.__dirname ??= dirname(g.__filename);
