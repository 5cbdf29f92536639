/**
 * The interactive shell: a PTY in the sandbox over a WebSocket. The client
 * asks for a short-lived shell URL with its credential, then connects to
 * that URL (which authorizes itself, so browsers can open it too).
 * Frames are JSON: `{"type":"input"|"resize"}` out, `{"type":"stdout"|…,"data"}` in.
 */

import { SocktError } from './errors.js';

/** A WebSocket constructor (the platform's, or one passed in on older Node). */
export type WebSocketConstructor = new (url: string) => WebSocket;

export interface ShellOptions {
  cols?: number;
  rows?: number;
  /** Terminal output (and `stderr`) as it arrives. */
  onData?: (data: string, stream: 'stdout' | 'stderr') => void;
  /** Billing notices the server sends (`billing`, `low_balance`, `out_of_balance`, …). */
  onNotice?: (type: string, data: unknown) => void;
  /** For runtimes without a global `WebSocket` (Node 20 without `--experimental-websocket`). */
  WebSocket?: WebSocketConstructor;
}

export class Shell {
  /** Resolves when the connection closes (by either side). */
  readonly closed: Promise<void>;

  private constructor(private readonly socket: WebSocket, closed: Promise<void>) {
    this.closed = closed;
  }

  /** Open a shell at `url` (a shell URL the server issued). */
  static open(url: string, options: ShellOptions): Promise<Shell> {
    const Impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Impl) {
      return Promise.reject(
        new SocktError(
          'this runtime has no WebSocket: use Node 22+, run Node 20 with --experimental-websocket, or pass `WebSocket` in the shell options',
          0,
          'websocket_unavailable',
        ),
      );
    }
    const socket = new Impl(url);
    let settleClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => (settleClosed = resolve));
    socket.addEventListener('message', (message: MessageEvent) => {
      let frame: { type?: unknown; data?: unknown };
      try {
        frame = JSON.parse(String(message.data)) as { type?: unknown; data?: unknown };
      } catch {
        return;
      }
      if (frame.type === 'stdout' || frame.type === 'stderr') {
        options.onData?.(String(frame.data ?? ''), frame.type);
      } else if (typeof frame.type === 'string') {
        options.onNotice?.(frame.type, frame.data);
      }
    });
    socket.addEventListener('close', () => settleClosed());
    return new Promise((resolve, reject) => {
      socket.addEventListener('open', () => {
        const shell = new Shell(socket, closed);
        if (options.cols && options.rows) shell.resize(options.cols, options.rows);
        resolve(shell);
      });
      socket.addEventListener('error', () =>
        reject(new SocktError('the shell connection failed', 0, 'shell_unavailable')),
      );
    });
  }

  /** Type into the terminal. */
  write(data: string): void {
    this.socket.send(JSON.stringify({ type: 'input', data }));
  }

  /** Tell the terminal its new size. */
  resize(cols: number, rows: number): void {
    this.socket.send(JSON.stringify({ type: 'resize', cols, rows }));
  }

  /** Close the shell (the sandbox keeps running). */
  close(): Promise<void> {
    this.socket.close();
    return this.closed;
  }
}
