// Package sockt is the Go client for Sockt: isolated Linux sandboxes for AI
// agents, paid per second in credits (with an API key) or in sats over
// Lightning (no account: pay the sandbox's invoice).
//
//	client := sockt.NewClient() // SOCKT_API_URL, SOCKT_API_KEY from the environment
//	sb, err := client.CreateSandbox(ctx, sockt.CreateSandboxParams{Tier: "micro", BillingMethod: sockt.Credits})
//	if err != nil { ... }
//	if _, err := sb.WaitUntilRunning(ctx); err != nil { ... }
//	res, err := sb.Exec(ctx, "python3 -c 'print(6*7)'", nil) // res.Stdout, res.Stderr, res.ExitCode
//	_, err = sb.Terminate(ctx, nil)
//
// Every call takes a context; cancelling it abandons the call (and cancels
// a command being waited for). Errors from the server are typed: use
// errors.As with *AuthenticationError, *InsufficientBalanceError,
// *NotFoundError, *RateLimitError (RetryAfter), … or with *APIError for any.
// Requests answered 429 or 503 are retried with backoff.
package sockt
