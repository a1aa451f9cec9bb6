// Picks the protocol. `auto` starts with v1 and falls back to rpc only when the v1
// endpoint does not exist and nothing was created (see createWithFallback in main.ts).
import type { Config } from '../inputs.ts';
import type { SecretRegistry } from '../secrets.ts';
import type { Platform } from './types.ts';
import { V1Platform } from './v1.ts';

export async function createPlatform(api: 'v1' | 'rpc', cfg: Config, secrets: SecretRegistry): Promise<Platform> {
  if (api === 'v1') {
    return new V1Platform({
      baseUrl: cfg.platformUrl,
      secrets,
      download: cfg.download,
      uploadMethod: cfg.uploadMethod,
      sftpThreshold: cfg.sftpThreshold,
      downloadVia: cfg.downloadVia,
      sshPrivateKey: cfg.sshPrivateKey,
      retryBaseMs: retryBaseFromEnv(),
      callTimeoutMs: callTimeoutFromEnv(),
    });
  }
  const { RpcPlatform } = await import('./rpc.ts');
  return new RpcPlatform({
    serverUrl: cfg.platformUrl,
    secrets,
    download: cfg.download !== 'none',
    sshPrivateKey: cfg.sshPrivateKey,
    envVars: cfg.envVars,
    contract: cfg.contract,
    retryBaseMs: retryBaseFromEnv(),
    callTimeoutMs: callTimeoutFromEnv(),
  });
}

/** Tests shorten retry waits with ODOO_UPGRADE_RETRY_BASE_MS; users never need it. */
function retryBaseFromEnv(): number | undefined {
  const v = Number(process.env.ODOO_UPGRADE_RETRY_BASE_MS);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/** Tests shorten the bound on one API call with ODOO_UPGRADE_CALL_TIMEOUT_MS (default 60 s). */
function callTimeoutFromEnv(): number | undefined {
  const v = Number(process.env.ODOO_UPGRADE_CALL_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}
