/**
 * A sandbox: run commands, read and write files, stop its processes, pause,
 * resume, top up, terminate. A Lightning sandbox carries its own token and uses it for
 * every call; a credits sandbox uses the client's API key.
 */

import { fromBase64, toBase64 } from './bytes.js';
import { SandboxEndedError, WaitTimeoutError } from './errors.js';
import type { Transport } from './http.js';
import { sleep } from './http.js';
import { Execution } from './execution.js';
import type { OutputCallbacks } from './execution.js';
import { Shell } from './shell.js';
import type { ShellOptions } from './shell.js';
import { toFileEntry, toProcessesKilled, toRefund, toStatus } from './types.js';
import type { ExecResult, FileEntry, Invoice, ProcessesKilled, SandboxStatus, TerminateResult } from './types.js';

type Json = Record<string, unknown>;

export interface StartOptions {
  /** Directory to run in (relative paths are under the home directory). */
  workingDir?: string;
  /** The command's own limit, enforced by the server (default 30 s). */
  timeoutMs?: number;
  /** Variables for this command only (never recorded by the server). */
  env?: Record<string, string>;
  /** Meant to run past this call: the longest allowed time unless `timeoutMs`. */
  background?: boolean;
  /** Keep standard input open for {@link Execution.writeStdin}. */
  stdin?: boolean;
  signal?: AbortSignal;
}

export interface ExecOptions extends OutputCallbacks {
  workingDir?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Sent to the command's standard input, which is then closed. */
  stdin?: string | Uint8Array;
}

export interface WaitOptions {
  /** Give up after this long (default 120 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ListFilesOptions {
  recursive?: boolean;
  maxDepth?: number;
  signal?: AbortSignal;
}

/** How long a command's answer is waited for in the exec request itself. */
const EXEC_WAIT_MS = 10_000;

export class Sandbox {
  readonly id: string;
  /** The sandbox's own token (Lightning sandboxes); keep it to reach the sandbox later. */
  readonly token: string | null;
  /** The last status the server gave. */
  info: SandboxStatus;

  constructor(private readonly transport: Transport, info: SandboxStatus, token: string | null) {
    this.id = info.id;
    this.info = info;
    this.token = token;
  }

  /** The sandbox's status now. */
  async status(signal?: AbortSignal): Promise<SandboxStatus> {
    return this.remember(await this.call('GET', '', { signal }));
  }

  /** The invoice to pay now (the first payment or a top-up), if any. */
  async pendingInvoice(signal?: AbortSignal): Promise<Invoice | null> {
    return (await this.status(signal)).pendingInvoice;
  }

  /**
   * Wait until the sandbox runs (for Lightning: once its invoice is paid).
   * Rejects with {@link SandboxEndedError} if it fails or is terminated.
   */
  async waitUntilRunning(options: WaitOptions = {}): Promise<SandboxStatus> {
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    let delay = 100;
    for (;;) {
      const status = await this.status(options.signal);
      if (status.status === 'running') return status;
      if (status.status === 'failed' || status.status === 'terminated') {
        throw new SandboxEndedError(
          `sandbox ${this.id} is ${status.status}${status.error ? `: ${status.error}` : ''}`,
          0,
          `sandbox_${status.status}`,
        );
      }
      if (Date.now() + delay > deadline) {
        throw new WaitTimeoutError(`sandbox ${this.id} is still ${status.status}`, 0, 'wait_timeout');
      }
      await sleep(delay, options.signal);
      delay = Math.min(delay * 2, 1_000);
    }
  }

  /**
   * Run a shell command and wait for it to end. Output reaches `onStdout` /
   * `onStderr` as it comes; the result holds all of it and the exit code
   * (a non-zero exit is a result, not an error).
   */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const streaming = Boolean(options.onStdout || options.onStderr);
    const execution = await this.start(command, {
      workingDir: options.workingDir,
      timeoutMs: options.timeoutMs,
      env: options.env,
      stdin: options.stdin !== undefined,
      signal: options.signal,
      // Without callbacks, a short command answers in this one request.
      waitMs: streaming || options.stdin !== undefined ? undefined : EXEC_WAIT_MS,
    });
    if (options.stdin !== undefined) {
      await execution.writeStdin(options.stdin, { close: true, signal: options.signal });
    }
    return execution.wait(options);
  }

  /** Start a command without waiting for it (follow it with the returned {@link Execution}). */
  startExec(command: string, options: StartOptions = {}): Promise<Execution> {
    return this.start(command, options);
  }

  /** An execution of this sandbox by id (to follow one started elsewhere). */
  execution(executionId: string): Execution {
    return new Execution(this.transport, this.credential, { execution_id: executionId, sandbox_id: this.id });
  }

  /** Write a file: text as UTF-8, a `Uint8Array` as bytes. Parent directories are created. */
  async writeFile(path: string, content: string | Uint8Array, options: { createDirs?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    const body =
      typeof content === 'string'
        ? { path, content, encoding: 'utf8' }
        : { path, content: toBase64(content), encoding: 'base64' };
    await this.call('POST', '/files/write', {
      body: { ...body, create_dirs: options.createDirs ?? true },
      signal: options.signal,
    });
  }

  /** Read a text file (UTF-8). */
  async readFile(path: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<string> {
    const answer = await this.call('POST', '/files/read', {
      body: { path, encoding: 'utf8', max_bytes: options.maxBytes },
      signal: options.signal,
    });
    return typeof answer.content === 'string' ? answer.content : '';
  }

  /** Read a file's bytes. */
  async readFileBytes(path: string, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const answer = await this.call('POST', '/files/read', {
      body: { path, encoding: 'base64', max_bytes: options.maxBytes },
      signal: options.signal,
    });
    return fromBase64(typeof answer.content_b64 === 'string' ? answer.content_b64 : '');
  }

  /** The entries of a directory (the home directory by default). */
  async listFiles(path = '.', options: ListFilesOptions = {}): Promise<FileEntry[]> {
    const answer = await this.call('GET', '/files', {
      query: { path, recursive: options.recursive, max_depth: options.maxDepth },
      signal: options.signal,
    });
    return Array.isArray(answer.entries) ? (answer.entries as Json[]).map(toFileEntry) : [];
  }

  /**
   * Stop every process in the sandbox but its agent: running commands end
   * `cancelled`, and what they left in the background (servers, a fork bomb)
   * is killed. The sandbox keeps running with its files (409 when paused).
   */
  async killProcesses(signal?: AbortSignal): Promise<ProcessesKilled> {
    return toProcessesKilled(await this.call('POST', '/processes/kill', { signal }));
  }

  /** Pause (billing stops; files and processes are kept). */
  async pause(signal?: AbortSignal): Promise<SandboxStatus> {
    return this.remember(await this.call('POST', '/pause', { signal }));
  }

  /** Resume a paused sandbox. */
  async resume(signal?: AbortSignal): Promise<SandboxStatus> {
    return this.remember(await this.call('POST', '/resume', { signal }));
  }

  /**
   * Add balance: `creditsCents` from the account (credits), or `sats` (Lightning:
   * the answer's `pendingInvoice` is the invoice to pay).
   */
  async extendBalance(amount: { creditsCents?: number; sats?: number }, signal?: AbortSignal): Promise<SandboxStatus> {
    return this.remember(
      await this.call('POST', '/balance', {
        body: { credits_cents: amount.creditsCents, sats: amount.sats },
        signal,
      }),
    );
  }

  /**
   * End the sandbox. Unused balance goes back to the account (credits), to
   * `lightningAddress`, or behind an LNURL-withdraw link (`refund.lnurl`).
   */
  async terminate(options: { lightningAddress?: string; signal?: AbortSignal } = {}): Promise<TerminateResult> {
    const answer = await this.call('DELETE', '', {
      body: options.lightningAddress ? { lightning_address: options.lightningAddress } : undefined,
      signal: options.signal,
    });
    return { status: this.remember(answer), refund: toRefund(answer.refund) };
  }

  /** Every money movement of this sandbox, with totals. */
  ledger(signal?: AbortSignal): Promise<Json> {
    return this.call('GET', '/ledger', { signal });
  }

  /** Open an interactive shell (a PTY running bash). */
  async shell(options: ShellOptions = {}): Promise<Shell> {
    const answer = await this.call('GET', '/shell-url', {});
    return Shell.open(String(answer.url), options);
  }

  private get credential(): string | undefined {
    return this.token ?? undefined;
  }

  private async start(command: string, options: StartOptions & { waitMs?: number }): Promise<Execution> {
    const page = await this.call('POST', '/exec', {
      body: {
        command,
        working_dir: options.workingDir,
        timeout_ms: options.timeoutMs,
        env: options.env,
        background: options.background,
        stdin: options.stdin,
        wait_ms: options.waitMs,
      },
      signal: options.signal,
    });
    return new Execution(this.transport, this.credential, page);
  }

  private call(method: string, path: string, options: { body?: unknown; query?: Record<string, string | number | boolean | undefined>; signal?: AbortSignal }): Promise<Json> {
    return this.transport.json<Json>(method, `/v1/sandboxes/${encodeURIComponent(this.id)}${path}`, {
      ...options,
      credential: this.credential,
    });
  }

  private remember(answer: Json): SandboxStatus {
    this.info = toStatus(answer);
    return this.info;
  }
}
