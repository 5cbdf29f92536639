/**
 * The HTTP transport: JSON in and out, the Bearer credential in a header
 * (never in a URL), typed errors, and retries with backoff on 429 and 503
 * only (honouring `Retry-After`).
 */

import { ConnectionError, errorFor, SocktError } from './errors.js';

/** A query string's values; `undefined` ones are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** Overrides the transport's credential (a sandbox's own token). */
  credential?: string;
  signal?: AbortSignal;
  /** Extra headers (e.g. `Last-Event-ID`). */
  headers?: Record<string, string>;
}

export interface TransportOptions {
  baseUrl: string;
  credential?: string;
  maxRetries: number;
  fetch: typeof fetch;
}

/** First backoff delay and its ceiling, in milliseconds. */
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 8_000;

export class Transport {
  readonly baseUrl: string;
  readonly credential: string | undefined;
  private readonly maxRetries: number;
  private readonly fetchImpl: typeof fetch;

  constructor(options: TransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.credential = options.credential;
    this.maxRetries = options.maxRetries;
    this.fetchImpl = options.fetch;
  }

  /** A JSON request; resolves to the parsed answer or rejects with a {@link SocktError}. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    const text = await response.text();
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new SocktError(`the server answered ${method} ${path} with something that is not JSON`, response.status, 'invalid_response');
    }
  }

  /** A request whose successful response is returned unread (streams). */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    const credential = options.credential ?? this.credential;
    if (credential) headers.authorization = `Bearer ${credential}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await this.fetchImpl(url, { method, headers, body, signal: options.signal });
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason ?? error;
        // The message never names the credential (it is in a header).
        throw new ConnectionError(`could not reach ${this.baseUrl}: ${describe(error)}`);
      }
      if (response.ok) return response;
      const retryAfter = retryAfterSecs(response.headers.get('retry-after'));
      const retriable = response.status === 429 || response.status === 503;
      if (retriable && attempt < this.maxRetries) {
        await response.body?.cancel().catch(() => undefined);
        await sleep(backoffMs(attempt, retryAfter), options.signal);
        continue;
      }
      throw errorFor(response.status, await readBody(response), retryAfter);
    }
  }

  url(path: string, query?: Query): string {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }
}

/** The delay before retry number `attempt` (from 0): the server's word, else exponential with jitter. */
export function backoffMs(attempt: number, retryAfter: number | null): number {
  if (retryAfter !== null) return Math.min(retryAfter * 1000, 60_000);
  const ceiling = Math.min(FIRST_BACKOFF_MS * 2 ** attempt, MAX_BACKOFF_MS);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** `Retry-After` as seconds (a number of seconds or an HTTP date). */
export function retryAfterSecs(header: string | null): number | null {
  if (header === null || header.trim() === '') return null;
  const secs = Number(header);
  if (Number.isFinite(secs)) return Math.max(0, secs);
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** Wait `ms`, or reject with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text().catch(() => '');
  try {
    return JSON.parse(text);
  } catch {
    return text === '' ? undefined : { message: text };
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}
