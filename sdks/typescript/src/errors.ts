/**
 * Errors: one class per kind of answer, so callers can `instanceof` what they
 * handle. Every server refusal is a {@link SocktError} carrying the HTTP
 * status, the server's `code` slug and its message.
 */

/** Any error the server answered (or the client met talking to it). */
export class SocktError extends Error {
  /** HTTP status (0 when no answer came). */
  readonly status: number;
  /** The server's error slug, e.g. `sandbox_not_found`. */
  readonly code: string;
  /** The parsed error body, when there was one. */
  readonly body: unknown;

  constructor(message: string, status = 0, code = 'client_error', body?: unknown) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** 400, 413, 422: the request itself is wrong. */
export class InvalidRequestError extends SocktError {}
/** 401: no credentials, or a key or sandbox token the server does not know. */
export class AuthenticationError extends SocktError {}
/** 402: not enough credits or sats (pay the sandbox's `pendingInvoice`). */
export class InsufficientBalanceError extends SocktError {}
/** 403: the credentials are known but may not do this. */
export class PermissionDeniedError extends SocktError {}
/** 404: no such sandbox, execution or file — or not yours. */
export class NotFoundError extends SocktError {}
/** 409: the sandbox is in a state that does not allow this (e.g. paused). */
export class ConflictError extends SocktError {}
/** 410: the sandbox has ended (terminated or failed). */
export class GoneError extends ConflictError {}
/** 429: too many requests; `retryAfter` says how many seconds to wait. */
export class RateLimitError extends SocktError {
  /** Seconds the server asked to wait (from `Retry-After`). */
  readonly retryAfter: number | null;

  constructor(message: string, status: number, code: string, body: unknown, retryAfter: number | null) {
    super(message, status, code, body);
    this.retryAfter = retryAfter;
  }
}
/** 502, 503: the runtime is unreachable, starting, or out of capacity. */
export class ServiceUnavailableError extends SocktError {}
/** Any other 5xx. */
export class InternalServerError extends SocktError {}
/** The server could not be reached at all. */
export class ConnectionError extends SocktError {}
/** A client-side wait (e.g. `waitUntilRunning`) ran out of time. */
export class WaitTimeoutError extends SocktError {}
/** The sandbox ended (failed or terminated) while it was being waited for. */
export class SandboxEndedError extends SocktError {}

/** The error class for an HTTP error answer. */
export function errorFor(
  status: number,
  body: unknown,
  retryAfter: number | null,
): SocktError {
  const fields = (typeof body === 'object' && body !== null ? body : {}) as {
    code?: unknown;
    message?: unknown;
  };
  const code = typeof fields.code === 'string' ? fields.code : `http_${status}`;
  const message =
    typeof fields.message === 'string' ? fields.message : `the server answered HTTP ${status}`;
  const text = `${message} (${code}, HTTP ${status})`;
  switch (status) {
    case 400:
    case 413:
    case 422:
      return new InvalidRequestError(text, status, code, body);
    case 401:
      return new AuthenticationError(text, status, code, body);
    case 402:
      return new InsufficientBalanceError(text, status, code, body);
    case 403:
      return new PermissionDeniedError(text, status, code, body);
    case 404:
      return new NotFoundError(text, status, code, body);
    case 409:
      return new ConflictError(text, status, code, body);
    case 410:
      return new GoneError(text, status, code, body);
    case 429:
      return new RateLimitError(text, status, code, body, retryAfter);
    case 502:
    case 503:
      return new ServiceUnavailableError(text, status, code, body);
    default:
      return status >= 500
        ? new InternalServerError(text, status, code, body)
        : new SocktError(text, status, code, body);
  }
}
