package sockt

import "encoding/json"

// BillingMethod says how a sandbox pays.
type BillingMethod string

const (
	// Credits: paid from the account of the API key.
	Credits BillingMethod = "credits"
	// Lightning: prepaid in sats by paying the sandbox's invoice; no account.
	Lightning BillingMethod = "lightning"
)

// Invoice is a BOLT11 invoice to pay from any Lightning wallet.
type Invoice struct {
	Bolt11      string `json:"bolt11"`
	PaymentHash string `json:"payment_hash"`
	AmountMsats int64  `json:"amount_msats"`
	// ExpiresAt is RFC 3339.
	ExpiresAt string `json:"expires_at"`
}

// SandboxStatus is a sandbox as the server reports it.
type SandboxStatus struct {
	ID                  string        `json:"sandbox_id"`
	Status              string        `json:"status"`
	Tier                string        `json:"tier"`
	Runtime             string        `json:"runtime"`
	BillingMethod       BillingMethod `json:"billing_method"`
	Label               *string       `json:"label"`
	ConsumedMsats       int64         `json:"consumed_msats"`
	MsatsPerSecond      int64         `json:"msats_per_second"`
	PrepaidBalanceMsats int64         `json:"prepaid_balance_msats"`
	SecondsRemaining    *int64        `json:"seconds_remaining"`
	// WarningLevel is "low_balance", "out_of_balance" or empty.
	WarningLevel *string `json:"warning_level"`
	// PendingInvoice is the invoice to pay now (first payment or top-up).
	PendingInvoice *Invoice  `json:"pending_invoice"`
	PaidInMsats    int64     `json:"paid_in_msats"`
	RefundedMsats  int64     `json:"refunded_msats"`
	PauseReason    *string   `json:"pause_reason"`
	EnvNames       []string  `json:"env_names"`
	EndsAtMs       *int64    `json:"ends_at_ms"`
	Error          *string   `json:"error"`
	CreatedAtMs    *int64    `json:"created_at_ms"`
	SandboxToken   *string   `json:"sandbox_token"`
	Raw            RawObject `json:"-"`
}

// RawObject is the server's answer as it came, for fields this version
// does not name.
type RawObject map[string]json.RawMessage

// UnmarshalJSON keeps the raw answer beside the named fields.
func (s *SandboxStatus) UnmarshalJSON(data []byte) error {
	type plain SandboxStatus
	if err := json.Unmarshal(data, (*plain)(s)); err != nil {
		return err
	}
	return json.Unmarshal(data, &s.Raw)
}

// Tier is a size of sandbox and its price.
type Tier struct {
	Tier            string  `json:"tier"`
	Name            string  `json:"name"`
	MsatsPerSecond  int64   `json:"msats_per_second"`
	SatsPerSecond   float64 `json:"sats_per_second"`
	CostPerHourSats float64 `json:"cost_per_hour_sats"`
	CostPerHourUSD  float64 `json:"cost_per_hour_usd"`
	VCPUs           float64 `json:"vcpus"`
	MemoryMiB       int64   `json:"memory_mib"`
}

// FileEntry is one entry of a directory listing.
type FileEntry struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	IsDir bool   `json:"is_dir"`
	// ModTime is seconds since the epoch (0 when unknown).
	ModTime int64 `json:"mod_ts"`
}

// Refund says where a terminated sandbox's unused balance went.
type Refund struct {
	// Destination is "account", "lightning_address", "lnurl_withdraw" or "none".
	Destination string `json:"destination"`
	// Status is "paid", "pending", "retrying", "claimable" or "nothing_to_refund"
	// (empty for credits).
	Status      string `json:"status"`
	AmountMsats int64  `json:"amount_msats"`
	PaymentHash string `json:"payment_hash"`
	// LNURL is a withdraw link to claim the refund from a wallet.
	LNURL string `json:"lnurl"`
}

// ProcessesKilled is what Sandbox.KillProcesses did.
type ProcessesKilled struct {
	SandboxID string `json:"sandbox_id"`
	// Killed counts the processes killed besides the cancelled commands'.
	Killed int64 `json:"killed"`
	// CancelledExecutions are the commands that were running; they ended
	// "cancelled".
	CancelledExecutions []string `json:"cancelled_executions"`
}

// TerminateResult is the sandbox as it ended and its refund.
type TerminateResult struct {
	Status SandboxStatus
	Refund Refund
}

// ExecResult is how a command ended and all its output.
type ExecResult struct {
	ExecutionID string
	// Status is "completed", "failed" or "cancelled" ("running" from Poll).
	Status string
	// ExitCode is nil when the command never ran to an exit.
	ExitCode *int
	Stdout   string
	Stderr   string
	// OmittedBytes were left out between the head and the tail of the output.
	OmittedBytes int64
	Error        string
	DurationMs   *int64
	// PendingInvoice is an invoice to pay when a Lightning sandbox runs low.
	PendingInvoice *Invoice
}
