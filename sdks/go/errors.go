package sockt

import (
	"fmt"
	"time"
)

// APIError is any error answer of the server: its HTTP status, the `code`
// slug (e.g. "sandbox_not_found") and the message. Every typed error below
// unwraps to it, so errors.As(err, &apiErr) works for all of them.
type APIError struct {
	StatusCode int
	Code       string
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("sockt: %s (%s, HTTP %d)", e.Message, e.Code, e.StatusCode)
}

// InvalidRequestError: 400, 413, 422 — the request itself is wrong.
type InvalidRequestError struct{ APIError }

// AuthenticationError: 401 — missing, unknown or wrong credentials.
type AuthenticationError struct{ APIError }

// InsufficientBalanceError: 402 — not enough credits or sats (pay the
// sandbox's PendingInvoice).
type InsufficientBalanceError struct{ APIError }

// PermissionDeniedError: 403 — known credentials that may not do this.
type PermissionDeniedError struct{ APIError }

// NotFoundError: 404 — no such sandbox, execution or file (or not yours).
type NotFoundError struct{ APIError }

// ConflictError: 409 — the sandbox's state does not allow this (e.g. paused).
type ConflictError struct{ APIError }

// GoneError: 410 — the sandbox has ended.
type GoneError struct{ APIError }

// RateLimitError: 429 — too many requests; RetryAfter is the server's wait.
type RateLimitError struct {
	APIError
	RetryAfter time.Duration
}

// UnavailableError: 502, 503 — the runtime is unreachable, starting or full.
type UnavailableError struct{ APIError }

// ServerError: any other 5xx.
type ServerError struct{ APIError }

func (e *InvalidRequestError) Unwrap() error      { return &e.APIError }
func (e *AuthenticationError) Unwrap() error      { return &e.APIError }
func (e *InsufficientBalanceError) Unwrap() error { return &e.APIError }
func (e *PermissionDeniedError) Unwrap() error    { return &e.APIError }
func (e *NotFoundError) Unwrap() error            { return &e.APIError }
func (e *ConflictError) Unwrap() error            { return &e.APIError }
func (e *GoneError) Unwrap() error                { return &e.APIError }
func (e *RateLimitError) Unwrap() error           { return &e.APIError }
func (e *UnavailableError) Unwrap() error         { return &e.APIError }
func (e *ServerError) Unwrap() error              { return &e.APIError }

// SandboxEndedError: the sandbox failed or was terminated while it was
// being waited for.
type SandboxEndedError struct {
	SandboxID string
	Status    string
	Reason    string
}

func (e *SandboxEndedError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("sockt: sandbox %s is %s: %s", e.SandboxID, e.Status, e.Reason)
	}
	return fmt.Sprintf("sockt: sandbox %s is %s", e.SandboxID, e.Status)
}

// errorFor is the typed error for an HTTP error answer.
func errorFor(status int, code, message string, retryAfter time.Duration) error {
	if code == "" {
		code = fmt.Sprintf("http_%d", status)
	}
	if message == "" {
		message = fmt.Sprintf("the server answered HTTP %d", status)
	}
	base := APIError{StatusCode: status, Code: code, Message: message}
	switch {
	case status == 400 || status == 413 || status == 422:
		return &InvalidRequestError{base}
	case status == 401:
		return &AuthenticationError{base}
	case status == 402:
		return &InsufficientBalanceError{base}
	case status == 403:
		return &PermissionDeniedError{base}
	case status == 404:
		return &NotFoundError{base}
	case status == 409:
		return &ConflictError{base}
	case status == 410:
		return &GoneError{base}
	case status == 429:
		return &RateLimitError{APIError: base, RetryAfter: retryAfter}
	case status == 502 || status == 503:
		return &UnavailableError{base}
	case status >= 500:
		return &ServerError{base}
	default:
		return &base
	}
}
