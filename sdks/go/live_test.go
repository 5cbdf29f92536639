package sockt_test

// Tests against the live server and LNbits that scripts/test.sh starts
// (SOCKT_API_URL, SOCKT_API_KEY, SOCKT_ADMIN_TOKEN, SOCKT_TEST_LNBITS_URL,
// SOCKT_TEST_LNBITS_TOKEN). A missing one fails the test.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"sockt"
)

func required(t *testing.T, name string) string {
	t.Helper()
	value := os.Getenv(name)
	if value == "" {
		t.Fatalf("%s is not set: run the SDK tests through scripts/test.sh (it starts the server and LNbits)", name)
	}
	return value
}

func credits(t *testing.T) *sockt.Client {
	return sockt.NewClient(sockt.WithBaseURL(required(t, "SOCKT_API_URL")), sockt.WithAPIKey(required(t, "SOCKT_API_KEY")))
}

func within(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func postJSON(t *testing.T, url string, headers map[string]string, body interface{}, out interface{}) int {
	t.Helper()
	payload, _ := json.Marshal(body)
	method := "POST"
	if headers["method"] != "" {
		method = headers["method"]
		delete(headers, "method")
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	response, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	if out != nil {
		if err := json.NewDecoder(response.Body).Decode(out); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	return response.StatusCode
}

// newAccount opens an account through the admin API; its API key.
func newAccount(t *testing.T, name string, creditsCents int) string {
	var account struct {
		APIKey string `json:"api_key"`
	}
	status := postJSON(t, required(t, "SOCKT_API_URL")+"/v1/admin/accounts",
		map[string]string{"Authorization": "Bearer " + required(t, "SOCKT_ADMIN_TOKEN")},
		map[string]interface{}{"name": name, "credits_cents": creditsCents}, &account)
	if status != 201 || account.APIKey == "" {
		t.Fatalf("creating an account answered %d", status)
	}
	return account.APIKey
}

func TestCreateWithWaitAnswersRunning(t *testing.T) {
	ctx := within(t, 2*time.Minute)
	sb, err := credits(t).CreateSandbox(ctx, sockt.CreateSandboxParams{Tier: "nano", InitialCreditsCents: 5, WaitMs: 60000})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Terminate(context.Background(), nil)
	if sb.Info.Status != "running" {
		t.Fatalf("a create that waits answered %q", sb.Info.Status)
	}
}

func TestCreditsSandboxEndToEnd(t *testing.T) {
	ctx := within(t, 5*time.Minute)
	client := credits(t)
	sb, err := client.CreateSandbox(ctx, sockt.CreateSandboxParams{Tier: "micro", BillingMethod: sockt.Credits, InitialCreditsCents: 20, Label: "go-sdk"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Terminate(context.Background(), nil)
	if status, err := sb.WaitUntilRunning(ctx); err != nil || status.Status != "running" || status.Tier != "micro" {
		t.Fatalf("wait: %+v %v", status, err)
	}

	// Files: text, binary, listing, a missing file.
	if err := sb.WriteFile(ctx, "notes/hello.txt", []byte("héllo wörld\n")); err != nil {
		t.Fatal(err)
	}
	if text, err := sb.ReadFile(ctx, "notes/hello.txt"); err != nil || string(text) != "héllo wörld\n" {
		t.Fatalf("read %q %v", text, err)
	}
	blob := make([]byte, 1024)
	for i := range blob {
		blob[i] = byte(i)
	}
	if err := sb.WriteFile(ctx, "blob.bin", blob); err != nil {
		t.Fatal(err)
	}
	if back, err := sb.ReadFile(ctx, "blob.bin"); err != nil || !bytes.Equal(back, blob) {
		t.Fatalf("binary round trip: %d bytes, %v", len(back), err)
	}
	if head, err := sb.ReadFileLimit(ctx, "blob.bin", 10); err != nil || !bytes.Equal(head, blob[:10]) {
		t.Fatalf("limited read: %v %v", head, err)
	}
	entries, err := sb.ListFiles(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]sockt.FileEntry{}
	for _, e := range entries {
		found[e.Name] = e
	}
	if found["blob.bin"].Size != 1024 || !found["notes"].IsDir {
		t.Fatalf("listing: %+v", entries)
	}
	var notFound *sockt.NotFoundError
	if _, err := sb.ReadFile(ctx, "no/such/file"); !errors.As(err, &notFound) {
		t.Fatalf("a missing file: %v", err)
	}

	// Exec: output, exit code, env, working directory.
	result, err := sb.Exec(ctx, "echo out; echo err >&2; exit 3", nil)
	if err != nil || result.Stdout != "out\n" || result.Stderr != "err\n" || result.ExitCode == nil || *result.ExitCode != 3 {
		t.Fatalf("exec: %+v %v", result, err)
	}
	result, err = sb.Exec(ctx, `echo "$GREETING" from $(pwd)`, &sockt.ExecOptions{Env: map[string]string{"GREETING": "hi"}, WorkingDir: "notes"})
	if err != nil || result.Stdout != "hi from /home/sandbox/notes\n" {
		t.Fatalf("env: %+v %v", result, err)
	}

	// Streamed handlers see output while the command runs.
	var mu sync.Mutex
	var streamed strings.Builder
	var firstAt time.Time
	result, err = sb.Exec(ctx, "for i in 1 2 3; do echo $i; sleep 0.4; done", &sockt.ExecOptions{OnStdout: func(chunk string) {
		mu.Lock()
		defer mu.Unlock()
		if firstAt.IsZero() {
			firstAt = time.Now()
		}
		streamed.WriteString(chunk)
	}})
	if err != nil || result.Stdout != "1\n2\n3\n" || streamed.String() != "1\n2\n3\n" {
		t.Fatalf("streamed: %+v %q %v", result, streamed.String(), err)
	}
	if time.Since(firstAt) < 700*time.Millisecond {
		t.Fatalf("the first line arrived only %v before the end", time.Since(firstAt))
	}

	// A timeout kills the command; a cancelled context cancels it.
	result, err = sb.Exec(ctx, "sleep 20", &sockt.ExecOptions{Timeout: 700 * time.Millisecond})
	if err != nil || result.Status != "failed" || !strings.Contains(result.Error, "timed out") {
		t.Fatalf("timeout: %+v %v", result, err)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = sb.Exec(short, "sleep 30; echo never", &sockt.ExecOptions{OnStdout: func(string) {}})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a cancelled exec: %v", err)
	}
	if left, err := sb.Exec(ctx, `pgrep -fc "slee[p] 30" || true`, nil); err != nil || strings.TrimSpace(left.Stdout) != "0" {
		t.Fatalf("the cancelled command still runs: %+v %v", left, err)
	}

	// Standard input.
	if result, err = sb.Exec(ctx, "tr a-z A-Z", &sockt.ExecOptions{Stdin: []byte("shout\n")}); err != nil || result.Stdout != "SHOUT\n" {
		t.Fatalf("stdin: %+v %v", result, err)
	}

	// A background command's stream, and resuming it from an offset.
	execution, err := sb.Start(ctx, "for i in 1 2 3 4; do echo line$i; sleep 0.2; done", sockt.StartOptions{Background: true})
	if err != nil {
		t.Fatal(err)
	}
	var events []sockt.StreamEvent
	if err := execution.Stream(ctx, 0, func(e sockt.StreamEvent) error { events = append(events, e); return nil }); err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	var chunks []sockt.StreamEvent
	for _, e := range events {
		if e.Type == "stdout" {
			all.WriteString(e.Data)
			chunks = append(chunks, e)
		}
	}
	if all.String() != "line1\nline2\nline3\nline4\n" || events[len(events)-1].Type != "end" || len(chunks) < 2 {
		t.Fatalf("stream: %+v", events)
	}
	var rest strings.Builder
	if err := execution.Stream(ctx, chunks[1].Offset, func(e sockt.StreamEvent) error {
		if e.Type == "stdout" {
			rest.WriteString(e.Data)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := all.String()[strings.Index(all.String(), chunks[1].Data):]; rest.String() != want {
		t.Fatalf("resumed %q, want %q", rest.String(), want)
	}

	// The shell.
	shell, err := sb.Shell(ctx, 100, 30)
	if err != nil {
		t.Fatal(err)
	}
	if err := shell.Write("echo go-shell-$((6*7))\n"); err != nil {
		t.Fatal(err)
	}
	var screen strings.Builder
	for !strings.Contains(screen.String(), "go-shell-42") {
		message, err := shell.Read()
		if err != nil {
			t.Fatalf("shell: %v after %q", err, screen.String())
		}
		screen.WriteString(message.Data)
	}
	shell.Close()

	// Every process stops: a running command ends cancelled, a background one is killed.
	if _, err := sb.Exec(ctx, "sleep 600 >/dev/null 2>&1 & echo started", nil); err != nil {
		t.Fatal(err)
	}
	running, err := sb.Start(ctx, "sleep 601", sockt.StartOptions{Background: true})
	if err != nil {
		t.Fatal(err)
	}
	stopped, err := sb.KillProcesses(ctx)
	if err != nil || stopped.SandboxID != sb.ID || stopped.Killed < 1 || len(stopped.CancelledExecutions) != 1 || stopped.CancelledExecutions[0] != running.ID {
		t.Fatalf("kill processes: %+v %v", stopped, err)
	}
	if ended, err := running.Wait(ctx, nil); err != nil || ended.Status != "cancelled" {
		t.Fatalf("the running command: %+v %v", ended, err)
	}
	if left, err := sb.Exec(ctx, "pgrep -c sleep || true", nil); err != nil || strings.TrimSpace(left.Stdout) != "0" {
		t.Fatalf("processes left: %+v %v", left, err)
	}

	// Pause, resume, terminate with the refund.
	if status, err := sb.Pause(ctx); err != nil || status.Status != "paused" {
		t.Fatalf("pause: %+v %v", status, err)
	}
	var conflict *sockt.ConflictError
	if _, err := sb.Exec(ctx, "true", nil); !errors.As(err, &conflict) {
		t.Fatalf("exec while paused: %v", err)
	}
	if _, err := sb.KillProcesses(ctx); !errors.As(err, &conflict) {
		t.Fatalf("kill processes while paused: %v", err)
	}
	if status, err := sb.Resume(ctx); err != nil || status.Status != "running" {
		t.Fatalf("resume: %+v %v", status, err)
	}
	if text, err := sb.ReadFile(ctx, "notes/hello.txt"); err != nil || string(text) != "héllo wörld\n" {
		t.Fatalf("after resume: %q %v", text, err)
	}
	ended, err := sb.Terminate(ctx, nil)
	if err != nil || ended.Status.Status != "terminated" || ended.Refund.Destination != "account" || ended.Refund.AmountMsats <= 0 {
		t.Fatalf("terminate: %+v %v", ended, err)
	}
	ledger, err := sb.Ledger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tt := ledger.Totals; tt.PaidInMsats != tt.ChargedMsats+tt.RefundedMsats+tt.BalanceMsats {
		t.Fatalf("conservation: %+v", tt)
	}
	var gone *sockt.GoneError
	if _, err := sb.Exec(ctx, "true", nil); !errors.As(err, &gone) {
		t.Fatalf("exec after terminate: %v", err)
	}
}

func TestErrorsByStatus(t *testing.T) {
	ctx := within(t, 2*time.Minute)
	base := required(t, "SOCKT_API_URL")

	var auth *sockt.AuthenticationError
	_, err := sockt.NewClient(sockt.WithBaseURL(base), sockt.WithAPIKey("sockt_live_not_a_key")).ListSandboxes(ctx, sockt.ListSandboxesParams{})
	if !errors.As(err, &auth) || auth.StatusCode != 401 || strings.Contains(err.Error(), "not_a_key") {
		t.Fatalf("401: %v", err)
	}

	var notFound *sockt.NotFoundError
	if _, err := credits(t).GetSandbox(ctx, "sbx-does-not-exist", ""); !errors.As(err, &notFound) || notFound.Code != "sandbox_not_found" {
		t.Fatalf("404: %v", err)
	}

	var broke *sockt.InsufficientBalanceError
	_, err = sockt.NewClient(sockt.WithBaseURL(base), sockt.WithAPIKey(newAccount(t, "go-broke", 0))).
		CreateSandbox(ctx, sockt.CreateSandboxParams{Tier: "micro", InitialCreditsCents: 5})
	if !errors.As(err, &broke) || broke.StatusCode != 402 {
		t.Fatalf("402: %v", err)
	}

	key := newAccount(t, "go-rate", 0)
	impatient := sockt.NewClient(sockt.WithBaseURL(base), sockt.WithAPIKey(key), sockt.WithMaxRetries(0))
	var wg sync.WaitGroup
	errs := make(chan error, 330)
	for i := 0; i < 330; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := impatient.Account(ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	var limited *sockt.RateLimitError
	for err := range errs {
		if errors.As(err, &limited) {
			break
		}
	}
	if limited == nil || limited.StatusCode != 429 || limited.RetryAfter < time.Second {
		t.Fatalf("429: %+v", limited)
	}
	patient := sockt.NewClient(sockt.WithBaseURL(base), sockt.WithAPIKey(key), sockt.WithMaxRetries(5))
	if _, err := patient.Account(ctx); err != nil {
		t.Fatalf("retries did not ride out the limit: %v", err)
	}
}

// wallet is an agent's own wallet in the test LNbits.
type wallet struct {
	lnbits, adminKey, inKey, address string
}

func newWallet(t *testing.T, sats int) *wallet {
	lnbits := strings.TrimRight(required(t, "SOCKT_TEST_LNBITS_URL"), "/")
	var account struct {
		ID, Adminkey, Inkey string
		LightningAddress    string `json:"lightning_address"`
	}
	postJSON(t, lnbits+"/api/v1/account", nil, map[string]string{"name": "go-agent"}, &account)
	var funded struct{ Success bool }
	postJSON(t, lnbits+"/users/api/v1/balance", map[string]string{"method": "PUT", "Authorization": "Bearer " + required(t, "SOCKT_TEST_LNBITS_TOKEN")},
		map[string]interface{}{"id": account.ID, "amount": sats}, &funded)
	if !funded.Success {
		t.Fatal("could not fund the agent's wallet")
	}
	host := strings.TrimPrefix(strings.TrimPrefix(lnbits, "http://"), "https://")
	return &wallet{lnbits: lnbits, adminKey: account.Adminkey, inKey: account.Inkey, address: account.LightningAddress + "@" + host}
}

func (w *wallet) pay(t *testing.T, bolt11 string) {
	var paid struct{ Status string }
	postJSON(t, w.lnbits+"/api/v1/payments", map[string]string{"X-Api-Key": w.adminKey}, map[string]interface{}{"out": true, "bolt11": bolt11}, &paid)
	if paid.Status != "success" {
		t.Fatalf("paying the invoice: %q", paid.Status)
	}
}

func (w *wallet) balanceMsats(t *testing.T) int64 {
	req, _ := http.NewRequest("GET", w.lnbits+"/api/v1/wallet", nil)
	req.Header.Set("X-Api-Key", w.inKey)
	response, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	var answer struct{ Balance int64 }
	if err := json.NewDecoder(response.Body).Decode(&answer); err != nil {
		t.Fatal(err)
	}
	return answer.Balance
}

func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestLightningSandboxPaidToppedUpAndRefunded(t *testing.T) {
	ctx := within(t, 3*time.Minute)
	base := required(t, "SOCKT_API_URL")
	agent := newWallet(t, 1000)
	anonymous := sockt.NewClient(sockt.WithBaseURL(base), sockt.WithAPIKey(""))
	sb, err := anonymous.CreateSandbox(ctx, sockt.CreateSandboxParams{Tier: "nano", BillingMethod: sockt.Lightning, PrepaidSats: 100})
	if err != nil {
		t.Fatal(err)
	}
	invoice := sb.Info.PendingInvoice
	if sb.Info.Status != "awaiting_payment" || !strings.HasPrefix(sb.Token, "sbx_") || invoice == nil || invoice.AmountMsats != 100_000 || len(invoice.PaymentHash) != 64 {
		t.Fatalf("created: %+v", sb.Info)
	}
	var unpaid *sockt.InsufficientBalanceError
	if _, err := sb.Exec(ctx, "true", nil); !errors.As(err, &unpaid) {
		t.Fatalf("exec before paying: %v", err)
	}
	agent.pay(t, invoice.Bolt11)
	if _, err := sb.WaitUntilRunning(ctx); err != nil {
		t.Fatal(err)
	}
	if result, err := sb.Exec(ctx, "echo sats", nil); err != nil || result.Stdout != "sats\n" {
		t.Fatalf("exec: %+v %v", result, err)
	}

	extended, err := sb.ExtendBalance(ctx, 0, 20)
	if err != nil || extended.PendingInvoice == nil || extended.PendingInvoice.AmountMsats != 20_000 {
		t.Fatalf("top-up: %+v %v", extended, err)
	}
	if pending, err := sb.PendingInvoice(ctx); err != nil || pending.PaymentHash != extended.PendingInvoice.PaymentHash {
		t.Fatalf("pending invoice: %+v %v", pending, err)
	}
	agent.pay(t, extended.PendingInvoice.Bolt11)
	eventually(t, "the top-up credited", func() bool {
		status, err := sb.Status(ctx)
		return err == nil && status.PaidInMsats == 120_000
	})

	// Another process holding only the token reaches the same sandbox.
	byToken := sockt.NewClient(sockt.WithBaseURL(base), sockt.WithSandboxToken(sb.Token))
	same, err := byToken.GetSandbox(ctx, sb.ID, "")
	if err != nil || same.Info.BillingMethod != sockt.Lightning {
		t.Fatalf("by token: %+v %v", same, err)
	}
	before := agent.balanceMsats(t)
	ended, err := same.Terminate(ctx, &sockt.TerminateOptions{LightningAddress: agent.address})
	if err != nil || ended.Status.Status != "terminated" || ended.Refund.Destination != "lightning_address" || ended.Refund.Status != "paid" || ended.Refund.AmountMsats <= 100_000 {
		t.Fatalf("terminate: %+v %v", ended, err)
	}
	eventually(t, "the refund in the wallet", func() bool { return agent.balanceMsats(t) == before+ended.Refund.AmountMsats })
	ledger, err := same.Ledger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tt := ledger.Totals; tt.PaidInMsats != tt.ChargedMsats+tt.RefundedMsats+tt.BalanceMsats {
		t.Fatalf("conservation: %+v", tt)
	}
	fmt.Fprintf(os.Stderr, "lightning: paid 120000 msats, refunded %d\n", ended.Refund.AmountMsats)
}
