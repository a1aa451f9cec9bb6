// Archives that are not dumps: Odoo.sh backups (sources), nested or misnamed dumps.
import { DumpError, TAKES } from './types.ts';

export function normaliseName(name: string): string {
  return name.replace(/\\/g, '/').replace(/^(\.\/|\/)+/, '');
}

/** An archive without a root dump.sql: say what it is most likely, and what to do instead. */
export function refuseArchiveWithoutDump(names: string[], where: string, kind: string): DumpError {
  const signs = odooShBackupSigns(names);
  if (signs.length) return new DumpError(`${where} is ${kind} that looks like an Odoo.sh backup (${signs.join('; ')}). ${ODOO_SH_ADVICE}`);
  const nested = names.find((n) => n.endsWith('/dump.sql'));
  if (nested) {
    const dir = nested.slice(0, -'dump.sql'.length);
    return new DumpError(
      `${where} is ${kind} with dump.sql inside the folder "${dir}", but the platform needs dump.sql at the archive's root. ` +
        `Zip that folder's content instead (\`cd "${dir}" && zip -r ../db.zip dump.sql filestore\`).`,
    );
  }
  const other = names.find((n) => /\.(sql|sql\.gz|dump|backup)$/i.test(n));
  if (other) {
    return new DumpError(
      `${where} is ${kind} holding "${other}" but no dump.sql. Pass that dump file itself (extracted), or name it dump.sql inside the zip.`,
    );
  }
  return new DumpError(`${where} is ${kind} without dump.sql (${names.length} entries), so it is not a database dump. ${TAKES}`);
}

export const ODOO_SH_ADVICE =
  "Odoo.sh backups hold the project's complete sources and are incompatible with the Upgrade Platform. " +
  'Download a Dump instead: in the Backups tab of the production branch use "Download Dump", ' +
  'or on the Builds page use "Download Dump" in the menu of the latest production build.';

/** What in a list of archive paths says "Odoo.sh backup" (sources, not a dump). */
export function odooShBackupSigns(names: string[]): string[] {
  const signs: string[] = [];
  const norm = names.map(normaliseName);
  if (norm.some((n) => /^home\/odoo\/src(\/|$)/.test(n))) signs.push('home/odoo/src/');
  if (norm.some((n) => /(^|\/)\.git(\/|$)/.test(n))) signs.push('a .git folder');
  const manifests = norm.filter((n) => /(^|\/)__(manifest|openerp)__\.py$/.test(n));
  if (manifests.length) signs.push(`${manifests.length} addon manifest${manifests.length > 1 ? 's' : ''} such as ${manifests[0]}`);
  return signs;
}
