package sockt

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// DefaultBaseURL is the hosted service, used when neither WithBaseURL nor
// SOCKT_API_URL says otherwise.
const DefaultBaseURL = "https://api.sockt.dev"

// Client talks to one Sockt server with one credential.
type Client struct {
	t *transport
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sets the account's API key (credits billing). An empty key
// means none (not even SOCKT_API_KEY).
func WithAPIKey(key string) Option {
	return func(c *Client) { c.t.credential = key }
}

// WithSandboxToken sets a Lightning sandbox's token: the client then opens
// that one sandbox.
func WithSandboxToken(token string) Option {
	return func(c *Client) { c.t.credential = token }
}

// WithBaseURL sets the server, e.g. http://127.0.0.1:8080.
func WithBaseURL(base string) Option {
	return func(c *Client) { c.t.baseURL = strings.TrimRight(base, "/") }
}

// WithHTTPClient sets the HTTP client (timeouts, proxies, transports).
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) { c.t.http = h }
}

// WithMaxRetries sets how often a request answered 429 or 503 is retried
// (default 3; 0 turns retries off).
func WithMaxRetries(n int) Option {
	return func(c *Client) { c.t.maxRetries = n }
}

// NewClient returns a client for SOCKT_API_URL (else DefaultBaseURL) with
// SOCKT_API_KEY or SOCKT_SANDBOX_TOKEN, unless options say otherwise.
func NewClient(options ...Option) *Client {
	base := os.Getenv("SOCKT_API_URL")
	if base == "" {
		base = DefaultBaseURL
	}
	credential := os.Getenv("SOCKT_API_KEY")
	if credential == "" {
		credential = os.Getenv("SOCKT_SANDBOX_TOKEN")
	}
	c := &Client{t: &transport{baseURL: strings.TrimRight(base, "/"), credential: credential, maxRetries: 3, http: &http.Client{}}}
	for _, option := range options {
		option(c)
	}
	return c
}

// BaseURL is the server this client talks to.
func (c *Client) BaseURL() string { return c.t.baseURL }

// NetworkPolicy is a sandbox's outbound network: internet on or off, and
// destinations (IPv4 CIDRs or host names) allowed or denied on top.
type NetworkPolicy struct {
	Internet *bool    `json:"internet,omitempty"`
	Allow    []string `json:"allow,omitempty"`
	Deny     []string `json:"deny,omitempty"`
}

// CreateSandboxParams describe a sandbox to create.
type CreateSandboxParams struct {
	Tier string `json:"tier"`
	// BillingMethod: Credits (default; needs an API key) or Lightning.
	BillingMethod BillingMethod `json:"billing_method,omitempty"`
	// PrepaidSats is the first invoice's amount (Lightning).
	PrepaidSats int64 `json:"prepaid_sats,omitempty"`
	// InitialCreditsCents are set aside from the account (credits).
	InitialCreditsCents int64          `json:"initial_credits_cents,omitempty"`
	Label               string         `json:"label,omitempty"`
	Network             *NetworkPolicy `json:"network,omitempty"`
	// TimeoutSecs ends the sandbox (with a refund) this long after it starts.
	TimeoutSecs int64 `json:"timeout_secs,omitempty"`
	// IdlePauseSecs pauses it when nothing has run for this long.
	IdlePauseSecs int64 `json:"idle_pause_secs,omitempty"`
	// Env holds variables every command sees (kept sealed by the server).
	Env map[string]string `json:"env,omitempty"`
	// WaitMs makes the server answer once the sandbox runs (or failed, or
	// awaits its payment), waiting at most this long (≤ 60000): a ready
	// sandbox in one round trip.
	WaitMs int64 `json:"wait_ms,omitempty"`
}

// CreateSandbox creates a sandbox. A Lightning sandbox starts once its
// Info.PendingInvoice is paid; its Token opens it later.
func (c *Client) CreateSandbox(ctx context.Context, params CreateSandboxParams) (*Sandbox, error) {
	if params.BillingMethod == "" {
		params.BillingMethod = Credits
	}
	var status SandboxStatus
	if err := c.t.do(ctx, request{method: "POST", path: "/v1/sandboxes", body: params}, &status); err != nil {
		return nil, err
	}
	sandbox := &Sandbox{ID: status.ID, Info: status, t: c.t}
	if status.SandboxToken != nil {
		sandbox.Token = *status.SandboxToken
	}
	return sandbox, nil
}

// GetSandbox finds a sandbox by id. sandboxToken may be empty (the
// client's credential is used).
func (c *Client) GetSandbox(ctx context.Context, id, sandboxToken string) (*Sandbox, error) {
	var status SandboxStatus
	if err := c.t.do(ctx, request{method: "GET", path: "/v1/sandboxes/" + url.PathEscape(id), credential: sandboxToken}, &status); err != nil {
		return nil, err
	}
	return &Sandbox{ID: status.ID, Token: sandboxToken, Info: status, t: c.t}, nil
}

// ListSandboxesParams filter a listing; zero values filter nothing.
type ListSandboxesParams struct {
	Status        []string
	Label         string
	Tier          string
	BillingMethod BillingMethod
	// Limit is at most 100.
	Limit  int
	Cursor string
}

// SandboxPage is one page of a listing; NextCursor is empty on the last.
type SandboxPage struct {
	Sandboxes  []SandboxStatus `json:"sandboxes"`
	NextCursor string          `json:"next_cursor"`
	Total      int             `json:"total"`
}

// ListSandboxes lists the caller's sandboxes, newest first.
func (c *Client) ListSandboxes(ctx context.Context, params ListSandboxesParams) (*SandboxPage, error) {
	query := url.Values{}
	set := func(name, value string) {
		if value != "" {
			query.Set(name, value)
		}
	}
	set("status", strings.Join(params.Status, ","))
	set("label", params.Label)
	set("tier", params.Tier)
	set("billing_method", string(params.BillingMethod))
	set("cursor", params.Cursor)
	if params.Limit > 0 {
		query.Set("limit", strconv.Itoa(params.Limit))
	}
	var page SandboxPage
	if err := c.t.do(ctx, request{method: "GET", path: "/v1/sandboxes", query: query}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// ListTiers returns the tiers and their prices.
func (c *Client) ListTiers(ctx context.Context) ([]Tier, error) {
	var answer struct {
		Tiers []Tier `json:"tiers"`
	}
	if err := c.t.do(ctx, request{method: "GET", path: "/v1/sandboxes/tiers"}, &answer); err != nil {
		return nil, err
	}
	return answer.Tiers, nil
}

// Account returns the account of the client's API key.
func (c *Client) Account(ctx context.Context) (RawObject, error) {
	var account RawObject
	if err := c.t.do(ctx, request{method: "GET", path: "/v1/account"}, &account); err != nil {
		return nil, err
	}
	return account, nil
}
