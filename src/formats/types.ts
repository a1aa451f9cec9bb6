// What dump inspection tells the rest of the action, and the error it refuses a dump with.
export type DumpFormat = 'custom' | 'sql' | 'sql.gz' | 'zip' | 'directory';

export interface DumpInfo {
  path: string;
  format: DumpFormat;
  size: number; // bytes; for a directory, the sum of its files
  uploadExt: '.dump' | '.sql' | '.sql.gz' | '.zip' | '.dump/';
  hasFilestore: boolean;
  detail: string; // one line for the log
  serverVersion?: string; // PostgreSQL that was dumped, when the dump says
  pgDumpVersion?: string;
}

/** A dump the platform would refuse: the message names the input, what was found and what to do. */
export class DumpError extends Error {
  override readonly name = 'DumpError';
}

export interface InspectOptions {
  api: 'v1' | 'rpc';
  input: string; // the action input the dump came from, named in every message
}

export const TAKES =
  'The platform takes a pg_dump custom-format file (`pg_dump -Fc`), plain SQL (.sql), gzip-compressed SQL (.sql.gz), ' +
  'or a zip holding dump.sql (an Odoo database-manager backup).';
