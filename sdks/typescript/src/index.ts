/**
 * `@sockt/client`: sandboxes for AI agents, paid per second in credits or
 * over Lightning. Start with {@link ComputeClient}.
 */

export { ComputeClient, DEFAULT_BASE_URL } from './client.js';
export type { ClientOptions, CreateSandboxOptions, ListSandboxesOptions, NetworkPolicy, SandboxPage } from './client.js';
export { Sandbox } from './sandbox.js';
export type { ExecOptions, ListFilesOptions, StartOptions, WaitOptions } from './sandbox.js';
export { Execution } from './execution.js';
export type { OutputCallbacks, StreamEvent } from './execution.js';
export { Shell } from './shell.js';
export type { ShellOptions, WebSocketConstructor } from './shell.js';
export * from './errors.js';
export type {
  BillingMethod,
  ExecResult,
  ExecutionStatus,
  FileEntry,
  Invoice,
  ProcessesKilled,
  Refund,
  SandboxState,
  SandboxStatus,
  TerminateResult,
  Tier,
} from './types.js';
