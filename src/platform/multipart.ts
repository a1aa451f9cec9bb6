// request_sftp_access takes the public keys as a multipart file field, like curl -F.
import { FormData, request } from 'undici';
import { dispatcher, readBounded, parseJsonAnswer } from '../net/http.ts';
import { withRetry } from '../net/retry.ts';
import { parseV1Answer } from './v1-answers.ts';
import { retryableCall } from './common.ts';
import type { TransferContext } from './types.ts';

export async function requestMultipart(
  url: string, field: string, fileName: string, text: string, ctx: TransferContext, retryBaseMs?: number,
): Promise<Record<string, unknown>> {
  return withRetry(
    async () => {
      const form = new FormData();
      form.append(field, new Blob([text], { type: 'text/plain' }), fileName);
      const res = await request(url, { method: 'POST', body: form, signal: ctx.signal, dispatcher: dispatcher() });
      const answerText = (await readBounded(res.body, 1024 * 1024)).toString('utf8');
      // The same framing and validation as every other v1 call (failures read whatever the status).
      const answer = parseJsonAnswer('request_sftp_access', res.statusCode, answerText, res.headers['retry-after'], true);
      return parseV1Answer('request_sftp_access', answer.status, answer.body);
    },
    {
      attempts: 5,
      baseMs: retryBaseMs ?? 2000,
      signal: ctx.signal,
      retryable: retryableCall,
    },
  );
}
