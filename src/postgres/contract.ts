// The contract from the database, as Odoo's upgrade script finds it: with `dump-database`
// and no `contract` input, the source database's `ir_config_parameter` row
// `database.enterprise_code` is the subscription code. It is masked the moment it is read.
import { secrets as defaultSecrets, type SecretRegistry } from '../secrets.ts';
import { splitConnection } from './connection.ts';
import { candidates, newest, installHint } from './tools.ts';
import { PgClient } from './psql.ts';

const INPUT = 'dump-database';

export class ContractError extends Error {
  override name = 'ContractError';
}

const QUERY = "SELECT value FROM ir_config_parameter WHERE key = 'database.enterprise_code'";

/** The enterprise code stored in the database, masked; undefined when it holds none. */
export async function contractFromDatabase(opts: {
  connection: string;
  log: (line: string) => void;
  signal?: AbortSignal;
  secrets?: SecretRegistry;
  /** A psql to use instead of searching PATH and /usr/lib/postgresql/*\/bin. */
  psql?: string;
}): Promise<string | undefined> {
  const reg = opts.secrets ?? defaultSecrets;
  const parts = splitConnection(opts.connection);
  if (opts.connection.trim() !== parts.dbname) reg.add(opts.connection.trim());
  reg.add(parts.password);
  const psql = await newest(opts.psql ? [opts.psql] : await candidates('psql'));
  if (!psql) throw new ContractError(`${INPUT}: psql was not found to read the contract from the database; install the PostgreSQL client tools (${installHint()}), or set \`contract\`.`);
  const pg = new PgClient({ tools: { psql: psql.path }, parts, secrets: reg, log: (l) => opts.log(reg.redact(l)), signal: opts.signal, input: INPUT });
  let out: string;
  try {
    // A table check first: a database that is not Odoo's answers "no contract", not an SQL error.
    const hasTable = (await pg.query(parts.conn, "SELECT to_regclass('ir_config_parameter') IS NOT NULL")).trim() === 't';
    out = hasTable ? await pg.query(parts.conn, QUERY) : '';
  } catch (err) {
    throw reg.redactError(err);
  }
  const code = out.split('\n')[0]?.trim();
  if (!code) return undefined;
  reg.add(code); // before anything else can print it
  return code;
}

/**
 * Settles `cfg.contract` for a `dump-database` run: the input when given (a warning when the
 * database holds another code, printing neither), else the database's own code.
 */
export async function settleContract(
  cfg: { contract: string; source?: { kind: string; connection?: string } },
  opts: { log: (l: string) => void; warn: (l: string) => void; signal?: AbortSignal; secrets?: SecretRegistry; psql?: string },
): Promise<void> {
  if (cfg.source?.kind !== 'database' || !cfg.source.connection) return;
  let fromDb: string | undefined;
  try {
    fromDb = await contractFromDatabase({ connection: cfg.source.connection, log: opts.log, signal: opts.signal, secrets: opts.secrets, psql: opts.psql });
  } catch (err) {
    if (!cfg.contract) throw err;
    opts.log(`Could not read the contract from the database (${(err as Error).message}); using the \`contract\` input.`);
    return;
  }
  if (!cfg.contract) {
    if (!fromDb) {
      throw new ContractError(
        `contract: the input is empty and the database holds no \`database.enterprise_code\` in ir_config_parameter (not an Enterprise database, or not Odoo). ` +
          'Set `contract` to your Odoo Enterprise contract reference.',
      );
    }
    cfg.contract = fromDb;
    opts.log('Using the contract stored in the database (ir_config_parameter `database.enterprise_code`; masked).');
    return;
  }
  if (fromDb && fromDb !== cfg.contract.trim()) {
    opts.warn('The `contract` input differs from the contract stored in the database (`database.enterprise_code`): using the input.');
  }
}
