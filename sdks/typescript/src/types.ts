/**
 * The shapes the client returns, in camelCase, and the one place that maps
 * the server's snake_case JSON onto them. Every object keeps the server's
 * answer as `raw` for fields this version does not name.
 */

export type BillingMethod = 'credits' | 'lightning';
export type SandboxState =
  | 'awaiting_payment'
  | 'creating'
  | 'starting'
  | 'running'
  | 'paused'
  | 'terminated'
  | 'failed';
export type ExecutionStatus = 'running' | 'completed' | 'failed' | 'cancelled';

type Json = Record<string, unknown>;

/** A BOLT11 invoice to pay from any Lightning wallet. */
export interface Invoice {
  bolt11: string;
  paymentHash: string;
  amountMsats: number;
  /** RFC 3339 time after which the invoice can no longer be paid. */
  expiresAt: string;
}

export interface SandboxStatus {
  id: string;
  status: SandboxState;
  tier: string;
  runtime: string;
  billingMethod: BillingMethod;
  label: string | null;
  consumedMsats: number;
  msatsPerSecond: number;
  prepaidBalanceMsats: number;
  secondsRemaining: number | null;
  /** `low_balance`, `out_of_balance`, or null. */
  warningLevel: string | null;
  /** The invoice to pay now (Lightning: the first payment, or a top-up). */
  pendingInvoice: Invoice | null;
  paidInMsats: number;
  refundedMsats: number;
  pauseReason: string | null;
  envNames: string[];
  endsAtMs: number | null;
  error: string | null;
  createdAtMs: number | null;
  raw: Json;
}

export interface Tier {
  name: string;
  msatsPerSecond: number;
  satsPerSecond: number;
  costPerHourSats: number;
  costPerHourUsd: number;
  vcpus: number | null;
  memoryMib: number | null;
  raw: Json;
}

export interface FileEntry {
  name: string;
  size: number;
  isDir: boolean;
  /** Modification time (seconds since the epoch), when known. */
  modTs: number | null;
  raw: Json;
}

/** Where a terminated sandbox's unused balance went. */
export interface Refund {
  /** `account`, `lightning_address`, `lnurl_withdraw` or `none`. */
  destination: string;
  /** `paid`, `pending`, `retrying`, `claimable`, `nothing_to_refund` (absent for credits). */
  status: string | null;
  amountMsats: number;
  paymentHash: string | null;
  /** LNURL-withdraw link to claim the refund from a wallet. */
  lnurl: string | null;
  raw: Json;
}

export interface TerminateResult {
  status: SandboxStatus;
  refund: Refund;
}

/** What {@link Sandbox.killProcesses} did. */
export interface ProcessesKilled {
  sandboxId: string;
  /** Processes killed besides the cancelled commands'. */
  killed: number;
  /** The commands that were running; they ended `cancelled`. */
  cancelledExecutions: string[];
  raw: Json;
}

export interface ExecResult {
  executionId: string;
  status: ExecutionStatus;
  /** The command's exit code (null when it never ran to an exit). */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** Bytes the output bound left out between the head and the tail it keeps. */
  omittedBytes: number;
  error: string | null;
  durationMs: number | null;
  /** An invoice to pay, when the sandbox is running low (Lightning). */
  pendingInvoice: Invoice | null;
}

export function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
export function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}
export function numOrNull(value: unknown): number | null {
  return typeof value === 'number' ? value : null;
}
export function strOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

export function toInvoice(value: unknown): Invoice | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Json;
  return {
    bolt11: str(v.bolt11),
    paymentHash: str(v.payment_hash),
    amountMsats: num(v.amount_msats),
    expiresAt: str(v.expires_at),
  };
}

export function toStatus(v: Json): SandboxStatus {
  return {
    id: str(v.sandbox_id),
    status: str(v.status) as SandboxState,
    tier: str(v.tier),
    runtime: str(v.runtime),
    billingMethod: str(v.billing_method) as BillingMethod,
    label: strOrNull(v.label),
    consumedMsats: num(v.consumed_msats),
    msatsPerSecond: num(v.msats_per_second),
    prepaidBalanceMsats: num(v.prepaid_balance_msats),
    secondsRemaining: numOrNull(v.seconds_remaining),
    warningLevel: strOrNull(v.warning_level),
    pendingInvoice: toInvoice(v.pending_invoice),
    paidInMsats: num(v.paid_in_msats),
    refundedMsats: num(v.refunded_msats),
    pauseReason: strOrNull(v.pause_reason),
    envNames: Array.isArray(v.env_names) ? v.env_names.map(String) : [],
    endsAtMs: numOrNull(v.ends_at_ms),
    error: strOrNull(v.error),
    createdAtMs: numOrNull(v.created_at_ms),
    raw: v,
  };
}

export function toTier(v: Json): Tier {
  return {
    name: str(v.tier) || str(v.name),
    msatsPerSecond: num(v.msats_per_second),
    satsPerSecond: num(v.sats_per_second),
    costPerHourSats: num(v.cost_per_hour_sats),
    costPerHourUsd: num(v.cost_per_hour_usd),
    vcpus: numOrNull(v.vcpus),
    memoryMib: numOrNull(v.memory_mib),
    raw: v,
  };
}

export function toFileEntry(v: Json): FileEntry {
  return {
    name: str(v.name),
    size: num(v.size),
    isDir: v.is_dir === true,
    modTs: numOrNull(v.mod_ts),
    raw: v,
  };
}

export function toRefund(v: unknown): Refund {
  const r = (typeof v === 'object' && v !== null ? v : {}) as Json;
  return {
    destination: str(r.destination),
    status: strOrNull(r.status),
    amountMsats: num(r.amount_msats),
    paymentHash: strOrNull(r.payment_hash),
    lnurl: strOrNull(r.lnurl),
    raw: r,
  };
}

export function toProcessesKilled(v: Json): ProcessesKilled {
  return {
    sandboxId: str(v.sandbox_id),
    killed: num(v.killed),
    cancelledExecutions: Array.isArray(v.cancelled_executions) ? v.cancelled_executions.map(String) : [],
    raw: v,
  };
}
