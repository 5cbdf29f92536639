package sockt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// execWait is how long a command's answer is waited for in the exec
// request itself, so a short command costs one round trip.
const execWait = 10 * time.Second

// Sandbox is one sandbox. A Lightning sandbox carries its own token
// (Token) and uses it for every call; others use the client's credential.
type Sandbox struct {
	ID string
	// Token opens this sandbox alone (Lightning sandboxes); keep it to reach
	// the sandbox again.
	Token string
	// Info is the last status the server gave.
	Info SandboxStatus

	t *transport
}

// ExecOptions tune a command. The zero value runs it in the home directory
// with the server's default timeout (30 s).
type ExecOptions struct {
	// WorkingDir is relative to the home directory unless absolute.
	WorkingDir string
	// Timeout is the command's own limit, enforced by the server.
	Timeout time.Duration
	// Env holds variables for this command only (never recorded).
	Env map[string]string
	// Stdin, when not nil, is written to the command's input, then closed.
	Stdin []byte
	// OnStdout and OnStderr receive output as it arrives.
	OnStdout func(chunk string)
	OnStderr func(chunk string)
}

// StartOptions tune a command started without waiting for it.
type StartOptions struct {
	WorkingDir string
	Timeout    time.Duration
	Env        map[string]string
	// Background: meant to outlive the call (the longest allowed time
	// unless Timeout).
	Background bool
	// Stdin keeps standard input open for Execution.WriteStdin.
	Stdin bool
}

// TerminateOptions say where a Lightning sandbox's refund goes.
type TerminateOptions struct {
	// LightningAddress (user@host) receives the unused balance; without
	// one, the refund waits behind an LNURL-withdraw link (Refund.LNURL).
	LightningAddress string
}

// ListFilesOptions tune a listing.
type ListFilesOptions struct {
	Recursive bool
	MaxDepth  int
}

// Status returns the sandbox's status now.
func (s *Sandbox) Status(ctx context.Context) (*SandboxStatus, error) {
	return s.remember(s.call(ctx, "GET", "", nil, nil))
}

// PendingInvoice returns the invoice to pay now (first payment or
// top-up), or nil.
func (s *Sandbox) PendingInvoice(ctx context.Context) (*Invoice, error) {
	status, err := s.Status(ctx)
	if err != nil {
		return nil, err
	}
	return status.PendingInvoice, nil
}

// WaitUntilRunning waits until the sandbox runs (a Lightning sandbox: once
// its invoice is paid). A failed or terminated sandbox is a
// *SandboxEndedError; bound the wait with ctx.
func (s *Sandbox) WaitUntilRunning(ctx context.Context) (*SandboxStatus, error) {
	delay := 100 * time.Millisecond
	for {
		status, err := s.Status(ctx)
		if err != nil {
			return nil, err
		}
		switch status.Status {
		case "running":
			return status, nil
		case "failed", "terminated":
			reason := ""
			if status.Error != nil {
				reason = *status.Error
			}
			return nil, &SandboxEndedError{SandboxID: s.ID, Status: status.Status, Reason: reason}
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, err
		}
		if delay *= 2; delay > time.Second {
			delay = time.Second
		}
	}
}

// Exec runs a shell command and waits for it to end. A non-zero exit is a
// result, not an error. When ctx ends first, the command is cancelled.
func (s *Sandbox) Exec(ctx context.Context, command string, options *ExecOptions) (*ExecResult, error) {
	if options == nil {
		options = &ExecOptions{}
	}
	streaming := options.OnStdout != nil || options.OnStderr != nil
	wait := time.Duration(0)
	if !streaming && options.Stdin == nil {
		wait = execWait
	}
	execution, err := s.start(ctx, command, StartOptions{WorkingDir: options.WorkingDir, Timeout: options.Timeout, Env: options.Env, Stdin: options.Stdin != nil}, wait)
	if err != nil {
		return nil, err
	}
	if options.Stdin != nil {
		if err := execution.WriteStdin(ctx, options.Stdin, true); err != nil {
			return nil, err
		}
	}
	return execution.Wait(ctx, &OutputHandlers{OnStdout: options.OnStdout, OnStderr: options.OnStderr})
}

// Start starts a command without waiting for it.
func (s *Sandbox) Start(ctx context.Context, command string, options StartOptions) (*Execution, error) {
	return s.start(ctx, command, options, 0)
}

// Execution is an execution of this sandbox by id (one started elsewhere).
func (s *Sandbox) Execution(id string) *Execution {
	return &Execution{ID: id, SandboxID: s.ID, t: s.t, credential: s.Token}
}

// WriteFile writes content to path (parent directories are created).
func (s *Sandbox) WriteFile(ctx context.Context, path string, content []byte) error {
	body := map[string]interface{}{"path": path, "content": base64.StdEncoding.EncodeToString(content), "encoding": "base64", "create_dirs": true}
	return s.do(ctx, "POST", "/files/write", nil, body, nil)
}

// ReadFile reads a whole file.
func (s *Sandbox) ReadFile(ctx context.Context, path string) ([]byte, error) {
	return s.readFile(ctx, path, 0)
}

// ReadFileLimit reads at most maxBytes of a file.
func (s *Sandbox) ReadFileLimit(ctx context.Context, path string, maxBytes int64) ([]byte, error) {
	return s.readFile(ctx, path, maxBytes)
}

func (s *Sandbox) readFile(ctx context.Context, path string, maxBytes int64) ([]byte, error) {
	body := map[string]interface{}{"path": path, "encoding": "base64"}
	if maxBytes > 0 {
		body["max_bytes"] = maxBytes
	}
	var answer struct {
		Content string `json:"content_b64"`
	}
	if err := s.do(ctx, "POST", "/files/read", nil, body, &answer); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(answer.Content)
}

// ListFiles lists a directory ("" or "." is the home directory).
func (s *Sandbox) ListFiles(ctx context.Context, path string, options *ListFilesOptions) ([]FileEntry, error) {
	query := url.Values{}
	if path != "" {
		query.Set("path", path)
	}
	if options != nil && options.Recursive {
		query.Set("recursive", "true")
	}
	if options != nil && options.MaxDepth > 0 {
		query.Set("max_depth", strconv.Itoa(options.MaxDepth))
	}
	var answer struct {
		Entries []FileEntry `json:"entries"`
	}
	if err := s.do(ctx, "GET", "/files", query, nil, &answer); err != nil {
		return nil, err
	}
	return answer.Entries, nil
}

// KillProcesses stops every process in the sandbox but its agent: running
// commands end "cancelled", and what they left in the background (servers,
// a fork bomb) is killed. The sandbox keeps running with its files (a
// *ConflictError when it is paused).
func (s *Sandbox) KillProcesses(ctx context.Context) (*ProcessesKilled, error) {
	var stopped ProcessesKilled
	if err := s.do(ctx, "POST", "/processes/kill", nil, nil, &stopped); err != nil {
		return nil, err
	}
	return &stopped, nil
}

// Pause pauses the sandbox (billing stops; files and processes are kept).
func (s *Sandbox) Pause(ctx context.Context) (*SandboxStatus, error) {
	return s.remember(s.call(ctx, "POST", "/pause", nil, nil))
}

// Resume resumes a paused sandbox.
func (s *Sandbox) Resume(ctx context.Context) (*SandboxStatus, error) {
	return s.remember(s.call(ctx, "POST", "/resume", nil, nil))
}

// ExtendBalance adds balance: creditsCents from the account (credits) or
// sats (Lightning: pay the returned status's PendingInvoice).
func (s *Sandbox) ExtendBalance(ctx context.Context, creditsCents, sats int64) (*SandboxStatus, error) {
	body := map[string]interface{}{}
	if creditsCents > 0 {
		body["credits_cents"] = creditsCents
	}
	if sats > 0 {
		body["sats"] = sats
	}
	return s.remember(s.call(ctx, "POST", "/balance", nil, body))
}

// Terminate ends the sandbox and refunds its unused balance: to the
// account (credits), to options.LightningAddress, or behind an
// LNURL-withdraw link.
func (s *Sandbox) Terminate(ctx context.Context, options *TerminateOptions) (*TerminateResult, error) {
	var body interface{}
	if options != nil && options.LightningAddress != "" {
		body = map[string]string{"lightning_address": options.LightningAddress}
	}
	var ended TerminateResult
	if err := s.do(ctx, "DELETE", "", nil, body, &ended.Status); err != nil {
		return nil, err
	}
	if raw, ok := ended.Status.Raw["refund"]; ok {
		if err := json.Unmarshal(raw, &ended.Refund); err != nil {
			return nil, fmt.Errorf("sockt: the refund is not the expected JSON: %w", err)
		}
	}
	s.Info = ended.Status
	return &ended, nil
}

// Ledger returns every money movement of the sandbox and the totals
// (paid_in, charged, refunded, reserved, balance; in msats).
func (s *Sandbox) Ledger(ctx context.Context) (*Ledger, error) {
	var ledger Ledger
	if err := s.do(ctx, "GET", "/ledger", nil, nil, &ledger); err != nil {
		return nil, err
	}
	return &ledger, nil
}

// Ledger is a sandbox's money movements.
type Ledger struct {
	Entries []RawObject `json:"entries"`
	Totals  struct {
		PaidInMsats   int64 `json:"paid_in_msats"`
		ChargedMsats  int64 `json:"charged_msats"`
		RefundedMsats int64 `json:"refunded_msats"`
		ReservedMsats int64 `json:"reserved_msats"`
		BalanceMsats  int64 `json:"balance_msats"`
	} `json:"totals"`
}

func (s *Sandbox) start(ctx context.Context, command string, o StartOptions, wait time.Duration) (*Execution, error) {
	body := map[string]interface{}{"command": command}
	if o.WorkingDir != "" {
		body["working_dir"] = o.WorkingDir
	}
	if o.Timeout > 0 {
		body["timeout_ms"] = o.Timeout.Milliseconds()
	}
	if len(o.Env) > 0 {
		body["env"] = o.Env
	}
	if o.Background {
		body["background"] = true
	}
	if o.Stdin {
		body["stdin"] = true
	}
	if wait > 0 {
		body["wait_ms"] = wait.Milliseconds()
	}
	var p page
	if err := s.do(ctx, "POST", "/exec", nil, body, &p); err != nil {
		return nil, err
	}
	return newExecution(s.t, s.Token, &p), nil
}

func (s *Sandbox) call(ctx context.Context, method, path string, query url.Values, body interface{}) (*SandboxStatus, error) {
	var status SandboxStatus
	if err := s.do(ctx, method, path, query, body, &status); err != nil {
		return nil, err
	}
	return &status, nil
}

func (s *Sandbox) do(ctx context.Context, method, path string, query url.Values, body, out interface{}) error {
	return s.t.do(ctx, request{method: method, path: "/v1/sandboxes/" + url.PathEscape(s.ID) + path, query: query, body: body, credential: s.Token}, out)
}

func (s *Sandbox) remember(status *SandboxStatus, err error) (*SandboxStatus, error) {
	if err != nil {
		return nil, err
	}
	s.Info = *status
	return status, nil
}
