/**
 * The entry point: `new ComputeClient({ apiKey })`. Creates sandboxes,
 * finds them again, lists them and the tiers. The base URL comes from
 * `baseUrl`, else `SOCKT_API_URL`; the credential from `apiKey` /
 * `sandboxToken`, else `SOCKT_API_KEY` / `SOCKT_SANDBOX_TOKEN`.
 */

import { Transport } from './http.js';
import { Sandbox } from './sandbox.js';
import { toStatus, toTier } from './types.js';
import type { BillingMethod, SandboxState, SandboxStatus, Tier } from './types.js';

type Json = Record<string, unknown>;

/** The hosted service, used when neither `baseUrl` nor `SOCKT_API_URL` says otherwise. */
export const DEFAULT_BASE_URL = 'https://api.sockt.dev';

export interface ClientOptions {
  /** An account's API key (`sockt_live_…`): credits billing. `null`: none (not even from the environment). */
  apiKey?: string | null;
  /** A Lightning sandbox's token (`sbx_…`): opens that one sandbox. `null`: none. */
  sandboxToken?: string | null;
  /** The server, e.g. `http://127.0.0.1:8080`. */
  baseUrl?: string;
  /** Retries of a request answered 429 or 503 (default 3). */
  maxRetries?: number;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
}

/** Outbound network of a sandbox: internet on or off, and destinations allowed or denied on top. */
export interface NetworkPolicy {
  internet?: boolean;
  allow?: string[];
  deny?: string[];
}

export interface CreateSandboxOptions {
  tier: string;
  /** `credits` (needs an API key) or `lightning` (no account: pay the invoice). Default `credits`. */
  billingMethod?: BillingMethod;
  /** Lightning: sats to prepay (the first invoice's amount). */
  prepaidSats?: number;
  /** Credits: cents to set aside from the account for this sandbox. */
  initialCreditsCents?: number;
  label?: string;
  network?: NetworkPolicy;
  /** End (with a refund) this long after it first starts. */
  timeoutSecs?: number;
  /** Pause when nothing has run for this long. */
  idlePauseSecs?: number;
  /** Variables every command sees (kept sealed by the server). */
  env?: Record<string, string>;
  /**
   * Answer once the sandbox runs (or failed, or awaits its payment), waiting
   * at most this long (≤ 60000): a ready sandbox in one round trip.
   */
  waitMs?: number;
  signal?: AbortSignal;
}

export interface ListSandboxesOptions {
  status?: SandboxState | SandboxState[];
  label?: string;
  tier?: string;
  billingMethod?: BillingMethod;
  /** At most 100 per page. */
  limit?: number;
  cursor?: string;
  signal?: AbortSignal;
}

export interface SandboxPage {
  sandboxes: SandboxStatus[];
  /** Pass as `cursor` for the next page (null: this was the last). */
  nextCursor: string | null;
  total: number;
}

export class ComputeClient {
  private readonly transport: Transport;

  constructor(options: ClientOptions = {}) {
    const env = environment();
    const credential =
      orEnvironment(options.apiKey, env.SOCKT_API_KEY) ?? orEnvironment(options.sandboxToken, env.SOCKT_SANDBOX_TOKEN);
    const fetchImpl = options.fetch ?? globalThis.fetch;
    this.transport = new Transport({
      baseUrl: options.baseUrl || env.SOCKT_API_URL || DEFAULT_BASE_URL,
      credential,
      maxRetries: options.maxRetries ?? 3,
      fetch: fetchImpl.bind(globalThis),
    });
  }

  /** The server this client talks to. */
  get baseUrl(): string {
    return this.transport.baseUrl;
  }

  /** Create a sandbox. A Lightning sandbox starts once its `pendingInvoice` is paid. */
  async createSandbox(options: CreateSandboxOptions): Promise<Sandbox> {
    const answer = await this.transport.json<Json>('POST', '/v1/sandboxes', {
      body: {
        tier: options.tier,
        billing_method: options.billingMethod ?? 'credits',
        prepaid_sats: options.prepaidSats,
        initial_credits_cents: options.initialCreditsCents,
        label: options.label,
        network: options.network,
        timeout_secs: options.timeoutSecs,
        idle_pause_secs: options.idlePauseSecs,
        env: options.env,
        wait_ms: options.waitMs,
      },
      signal: options.signal,
    });
    const token = typeof answer.sandbox_token === 'string' ? answer.sandbox_token : null;
    return new Sandbox(this.transport, toStatus(answer), token);
  }

  /** A sandbox by id (with its token, for a Lightning sandbox this client's credential does not open). */
  async getSandbox(id: string, options: { sandboxToken?: string; signal?: AbortSignal } = {}): Promise<Sandbox> {
    const answer = await this.transport.json<Json>('GET', `/v1/sandboxes/${encodeURIComponent(id)}`, {
      credential: options.sandboxToken,
      signal: options.signal,
    });
    return new Sandbox(this.transport, toStatus(answer), options.sandboxToken ?? null);
  }

  /** The caller's sandboxes, newest first, one page at a time. */
  async listSandboxes(options: ListSandboxesOptions = {}): Promise<SandboxPage> {
    const status = Array.isArray(options.status) ? options.status.join(',') : options.status;
    const answer = await this.transport.json<Json>('GET', '/v1/sandboxes', {
      query: {
        status,
        label: options.label,
        tier: options.tier,
        billing_method: options.billingMethod,
        limit: options.limit,
        cursor: options.cursor,
      },
      signal: options.signal,
    });
    return {
      sandboxes: Array.isArray(answer.sandboxes) ? (answer.sandboxes as Json[]).map(toStatus) : [],
      nextCursor: typeof answer.next_cursor === 'string' ? answer.next_cursor : null,
      total: typeof answer.total === 'number' ? answer.total : 0,
    };
  }

  /** The tiers and their prices. */
  async listTiers(signal?: AbortSignal): Promise<Tier[]> {
    const answer = await this.transport.json<Json>('GET', '/v1/sandboxes/tiers', { signal });
    return Array.isArray(answer.tiers) ? (answer.tiers as Json[]).map(toTier) : [];
  }

  /** The account of the API key (its credits). */
  account(signal?: AbortSignal): Promise<Json> {
    return this.transport.json<Json>('GET', '/v1/account', { signal });
  }
}

/** An option's value; the environment's when the option is left out; none when it is null or empty. */
function orEnvironment(option: string | null | undefined, fromEnvironment: string | undefined): string | undefined {
  const value = option === undefined ? fromEnvironment : option;
  return value ? value : undefined;
}

/** The process environment where there is one (Node, Deno, Bun); empty in browsers. */
function environment(): Record<string, string | undefined> {
  const process = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return process?.env ?? {};
}
