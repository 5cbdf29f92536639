/**
 * A command running in a sandbox: wait for it by long-poll (each request
 * waits on the server for new output; no sleep loop), follow its output as
 * Server-Sent Events (resuming after a dropped connection without losing
 * or repeating a byte), write to its standard input, cancel it.
 */

import { toBase64 } from './bytes.js';
import { SocktError } from './errors.js';
import type { Transport } from './http.js';
import { sleep } from './http.js';
import { num, numOrNull, str, strOrNull, toInvoice } from './types.js';
import type { ExecResult, ExecutionStatus } from './types.js';

/** How long one poll waits on the server for news. */
const LONG_POLL_MS = 25_000;
/** Reconnections in a row, without a new event, before a stream gives up. */
const STREAM_RECONNECTS = 5;

export interface OutputCallbacks {
  /** Called with each piece of standard output as it arrives. */
  onStdout?: (chunk: string) => void;
  /** Called with each piece of standard error as it arrives. */
  onStderr?: (chunk: string) => void;
  /** Aborting cancels the command and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** One event of an execution's stream. */
export type StreamEvent =
  | { type: 'stdout' | 'stderr'; data: string; offset: number }
  | { type: 'omitted'; bytes: number }
  | {
      type: 'end';
      status: ExecutionStatus;
      exitCode: number | null;
      error: string | null;
      durationMs: number | null;
      omittedBytes: number;
    };

type Page = Record<string, unknown>;

export class Execution {
  readonly id: string;
  readonly sandboxId: string;
  readonly command: string;
  /** The first answer (the exec request's), kept until `wait` reads it. */
  private firstPage: Page | null;

  constructor(
    private readonly transport: Transport,
    private readonly credential: string | undefined,
    page: Page,
  ) {
    this.id = str(page.execution_id);
    this.sandboxId = str(page.sandbox_id);
    this.command = str(page.command);
    this.firstPage = page;
  }

  /** Where the command stands now, with all its output so far. */
  async poll(signal?: AbortSignal): Promise<ExecResult> {
    const output = new Output({});
    output.add(await this.page(undefined, 0, signal));
    return output.result(this.id);
  }

  /** Wait for the command to end, passing output to the callbacks as it comes. */
  async wait(callbacks: OutputCallbacks = {}): Promise<ExecResult> {
    const { signal } = callbacks;
    const output = new Output(callbacks);
    try {
      const first = this.firstPage;
      this.firstPage = null;
      if (first !== null && 'output' in first) output.add(first);
      while (!output.finished) {
        const asked = Date.now();
        const news = output.add(await this.page(output.offset, LONG_POLL_MS, signal));
        // A server that cannot wait (or has no output here) is not hammered.
        if (!news && !output.finished && Date.now() - asked < 100) await sleep(250, signal);
      }
      return output.result(this.id);
    } catch (error) {
      if (signal?.aborted) await this.cancel().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The output as Server-Sent Events, from `offset` (0: the start). A
   * dropped connection is resumed from the last event seen.
   */
  async *stream(options: { offset?: number; signal?: AbortSignal } = {}): AsyncGenerator<StreamEvent> {
    let lastId: string | undefined = options.offset !== undefined ? String(options.offset) : undefined;
    let quietReconnects = 0;
    for (;;) {
      const response = await this.transport.send('GET', `/v1/executions/${enc(this.id)}/stream`, {
        credential: this.credential,
        signal: options.signal,
        headers: { accept: 'text/event-stream', ...(lastId !== undefined ? { 'last-event-id': lastId } : {}) },
      });
      let progressed = false;
      try {
        for await (const event of sseEvents(response)) {
          progressed = true;
          const data = JSON.parse(event.data || '{}') as Page;
          if (event.id !== undefined) lastId = event.id;
          switch (event.event) {
            case 'stdout':
            case 'stderr':
              yield { type: event.event, data: str(data.chunk), offset: num(data.offset) };
              break;
            case 'omitted':
              yield { type: 'omitted', bytes: num(data.bytes) };
              break;
            case 'end':
              yield {
                type: 'end',
                status: str(data.status) as ExecutionStatus,
                exitCode: numOrNull(data.exit_code),
                error: strOrNull(data.error),
                durationMs: numOrNull(data.duration_ms),
                omittedBytes: num(data.omitted_bytes),
              };
              return;
            case 'error':
              throw new SocktError(str(data.message) || 'the stream failed', 0, str(data.code) || 'stream_error', data);
          }
        }
      } catch (error) {
        if (options.signal?.aborted || error instanceof SocktError) throw error;
        // A dropped connection: resume below.
      }
      quietReconnects = progressed ? 0 : quietReconnects + 1;
      if (quietReconnects >= STREAM_RECONNECTS) {
        throw new SocktError('the execution stream kept ending without news', 0, 'stream_interrupted');
      }
    }
  }

  /** Write to the command's standard input (opened with `stdin: true`); `close` sends end-of-file. */
  async writeStdin(data: string | Uint8Array, options: { close?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    const body =
      typeof data === 'string'
        ? { data, close: options.close ?? false }
        : { data: toBase64(data), encoding: 'base64', close: options.close ?? false };
    await this.transport.json('POST', `/v1/executions/${enc(this.id)}/stdin`, {
      body,
      credential: this.credential,
      signal: options.signal,
    });
  }

  /** Close the command's standard input. */
  closeStdin(signal?: AbortSignal): Promise<void> {
    return this.writeStdin('', { close: true, signal });
  }

  /** Stop the command; resolves to where it ended. */
  async cancel(): Promise<ExecResult> {
    const output = new Output({});
    output.add(
      await this.transport.json<Page>('DELETE', `/v1/executions/${enc(this.id)}`, { credential: this.credential }),
    );
    return output.result(this.id);
  }

  private page(offset: number | undefined, waitMs: number, signal?: AbortSignal): Promise<Page> {
    return this.transport.json<Page>('GET', `/v1/executions/${enc(this.id)}`, {
      query: { offset, wait_ms: waitMs > 0 ? waitMs : undefined },
      credential: this.credential,
      signal,
    });
  }
}

/** Output gathered page by page (each page holds the chunks after the cursor it was asked with). */
class Output {
  offset = 0;
  finished = false;
  private status: ExecutionStatus = 'running';
  private stdout: string[] = [];
  private stderr: string[] = [];
  private last: Page = {};

  constructor(private readonly callbacks: OutputCallbacks) {}

  /** Take a page in; whether it brought news. */
  add(page: Page): boolean {
    this.last = page;
    const chunks = Array.isArray(page.output) ? (page.output as Page[]) : [];
    for (const chunk of chunks) {
      const text = str(chunk.chunk);
      if (chunk.stream === 'stderr') {
        this.stderr.push(text);
        this.callbacks.onStderr?.(text);
      } else {
        this.stdout.push(text);
        this.callbacks.onStdout?.(text);
      }
    }
    if (typeof page.next_offset === 'number') this.offset = page.next_offset;
    const status = str(page.status) as ExecutionStatus;
    const changed = status !== this.status;
    this.status = status;
    this.finished = status !== 'running' && status !== ('' as ExecutionStatus);
    return chunks.length > 0 || changed;
  }

  result(executionId: string): ExecResult {
    const p = this.last;
    return {
      executionId,
      status: this.status,
      exitCode: numOrNull(p.exit_code),
      stdout: this.stdout.join(''),
      stderr: this.stderr.join(''),
      omittedBytes: num(p.omitted_bytes),
      error: strOrNull(p.error),
      durationMs: numOrNull(p.duration_ms),
      pendingInvoice: toInvoice(p.pending_invoice),
    };
  }
}

interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** Parse a `text/event-stream` body into events. */
export async function* sseEvents(response: Response): AsyncGenerator<SseEvent> {
  if (!response.body) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event: SseEvent = { event: 'message', data: '' };
  let hasData = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r?\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(buffer[newline] === '\r' ? newline + 2 : newline + 1);
        if (line === '') {
          if (hasData) yield event;
          event = { event: 'message', data: '' };
          hasData = false;
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event.event = value;
        else if (field === 'id') event.id = value;
        else if (field === 'data') {
          event.data = hasData ? `${event.data}\n${value}` : value;
          hasData = true;
        }
      }
    }
  } finally {
    reader.releaseLock();
    await response.body.cancel().catch(() => undefined);
  }
}

function enc(id: string): string {
  return encodeURIComponent(id);
}
