/**
 * Retries with bounded, jittered exponential backoff, and only what is `temporary`:
 * dropped connections, timeouts, 408/429/5xx. Anything else fails at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TsbuildError, isTsbuildError } from '../common/index.js';
import { isTemporaryStatus } from './errors.js';
import { discard, header, type Policy } from './transport.js';

export interface RetryOptions {
  /** Attempts in all, the first included; default 5. */
  readonly attempts?: number;
  /** Delay before the first retry; doubled each time; default 250 ms. */
  readonly baseDelayMs?: number;
  /** Upper bound of one delay, `Retry-After` included; default 8 s. */
  readonly maxDelayMs?: number;
}

export interface Backoff {
  readonly attempts: number;
  delay(attempt: number, retryAfter?: string): number;
}

export function backoff(options: RetryOptions = {}): Backoff {
  const attempts = Math.max(1, Math.min(options.attempts ?? 5, 20));
  const base = options.baseDelayMs ?? 250;
  const max = options.maxDelayMs ?? 8000;
  return {
    attempts,
    delay(attempt, retryAfter) {
      const hinted = parseRetryAfter(retryAfter);
      const exponential = base * 2 ** Math.min(attempt, 16);
      // Jitter keeps parallel layer downloads from retrying in lockstep.
      const jittered = exponential / 2 + Math.random() * (exponential / 2);
      return Math.min(max, hinted ?? jittered);
    },
  };
}

function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Runs `operation` again while it fails with a temporary TsbuildError, up to the bound. */
export async function withRetries<T>(policy: Backoff, operation: (attempt: number) => Promise<T>, onRetry?: (error: unknown, attempt: number) => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!isTsbuildError(error) || !error.temporary || attempt + 1 >= policy.attempts) throw error;
      onRetry?.(error, attempt);
      await sleep(policy.delay(attempt));
    }
  }
}

export function retryPolicy(policy: Backoff): Policy {
  return (next) => async (request) => {
    for (let attempt = 0; ; attempt++) {
      const last = attempt + 1 >= policy.attempts || request.once === true;
      try {
        const response = await next(request);
        if (last || !isTemporaryStatus(response.status)) return response;
        const retryAfter = header(response, 'retry-after');
        await discard(response);
        await sleep(policy.delay(attempt, retryAfter), undefined, request.signal === undefined ? undefined : { signal: request.signal });
      } catch (error) {
        if (!isTsbuildError(error) || !error.temporary) throw error;
        // Retried here as often as allowed: no longer temporary, or an operation-level retry
        // around this request would multiply the attempts. A one-shot request was not retried.
        if (last) throw request.once === true ? error : new TsbuildError(error.code, error.message, { cause: error });
        await sleep(policy.delay(attempt), undefined, request.signal === undefined ? undefined : { signal: request.signal });
      }
    }
  };
}
