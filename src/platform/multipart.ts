// request_sftp_access takes the public keys as a multipart file field, like curl -F.
import { FormData, request } from 'undici';
import { dispatcher, readBounded, parseRetryAfter, snippet, HttpStatusError, BadAnswerError } from '../http.ts';
import { withRetry } from '../retry.ts';
import { describeFailures, type Failure } from './v1.ts';
import { retryableCall } from './common.ts';
import { PlatformError, type TransferContext } from './types.ts';

export async function requestMultipart(
  url: string, field: string, fileName: string, text: string, ctx: TransferContext, retryBaseMs?: number,
): Promise<Record<string, unknown>> {
  return withRetry(
    async () => {
      const form = new FormData();
      form.append(field, new Blob([text], { type: 'text/plain' }), fileName);
      const res = await request(url, { method: 'POST', body: form, signal: ctx.signal, dispatcher: dispatcher() });
      const body = (await readBounded(res.body, 1024 * 1024)).toString('utf8');
      let parsed: { failures?: Failure[]; request?: Record<string, unknown> };
      try {
        parsed = JSON.parse(body);
      } catch {
        if (res.statusCode >= 300) throw new HttpStatusError('request_sftp_access', res.statusCode, parseRetryAfter(res.headers['retry-after']), snippet(body));
        throw new BadAnswerError(`request_sftp_access: the platform answered something that is not JSON (${snippet(body)})`);
      }
      if (Array.isArray(parsed.failures) && parsed.failures.length) {
        const reasons = parsed.failures.map((f) => String(f.reason ?? ''));
        throw new PlatformError(describeFailures('request_sftp_access', parsed.failures), reasons, reasons.includes('SERVER:ERROR'));
      }
      return parsed.request ?? {};
    },
    {
      attempts: 5,
      baseMs: retryBaseMs ?? 2000,
      signal: ctx.signal,
      retryable: retryableCall,
    },
  );
}
