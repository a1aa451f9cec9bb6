// What the post step does: runs after the main step whatever happened to it. When the main
// step was killed before its own cleanup (SIGKILL, runner timeout), it removes what that step
// left, read from the step state: its work dir (dump copies, ephemeral SSH keys through
// TMPDIR) and partial downloads; and it says the request may still be running.
import path from 'node:path';
import { readdir, rm } from 'node:fs/promises';
import type { StateProvider } from './state.ts';
import { WORK_DIR_PREFIX } from '../steps/work-dir.ts';

export async function cleanUpAfterKill(state: StateProvider, io: { info(line: string): void; warning(line: string): void }): Promise<void> {
  if (state.get('finished') === 'true') return; // the main step cleaned up after itself
  const workDir = state.get('work-dir');
  const outputDir = state.get('output-dir');
  const requestId = state.get('request-id');
  // Only a directory the main step made: the name proves it, whatever the state says.
  if (workDir && path.basename(workDir).startsWith(WORK_DIR_PREFIX)) {
    await rm(workDir, { recursive: true, force: true });
    io.info(`Removed the work directory the interrupted step left: ${workDir}`);
  }
  if (outputDir) {
    const entries = await readdir(outputDir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.isFile() && e.name.endsWith('.part')) {
        await rm(path.join(outputDir, e.name), { force: true });
        io.info(`Removed a partial download: ${e.name}`);
      }
    }
  }
  if (requestId) {
    io.warning(
      `The upgrade step stopped before it finished; request ${requestId} may still be running on the platform. Resume it with the inputs \`request-id: ${requestId}\` and \`request-key\` (the masked output of that step, if it was saved).`,
    );
  }
}
