package sockt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestErrorsAreTypedAndUnwrapToAPIError(t *testing.T) {
	cases := map[int]interface{}{
		400: new(*InvalidRequestError), 401: new(*AuthenticationError), 402: new(*InsufficientBalanceError),
		403: new(*PermissionDeniedError), 404: new(*NotFoundError), 409: new(*ConflictError), 410: new(*GoneError),
		429: new(*RateLimitError), 503: new(*UnavailableError), 500: new(*ServerError),
	}
	for status, target := range cases {
		err := error(errorFor(status, "some_code", "some message", 2*time.Second))
		if !errors.As(err, target) {
			t.Errorf("HTTP %d: %T is not the typed error", status, err)
		}
		var api *APIError
		if !errors.As(err, &api) || api.StatusCode != status || api.Code != "some_code" {
			t.Errorf("HTTP %d: does not unwrap to its APIError: %v", status, err)
		}
	}
	var limited *RateLimitError
	if !errors.As(errorFor(429, "rate_limited", "slow down", 3*time.Second), &limited) || limited.RetryAfter != 3*time.Second {
		t.Fatalf("RetryAfter lost: %+v", limited)
	}
}

func TestRetryAfterAndBackoff(t *testing.T) {
	if got := retryAfterOf("2"); got != 2*time.Second {
		t.Fatalf("seconds: %v", got)
	}
	if got := retryAfterOf(""); got != 0 {
		t.Fatalf("empty: %v", got)
	}
	if got := retryAfterOf(time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)); got <= 3*time.Second || got > 5*time.Second {
		t.Fatalf("date: %v", got)
	}
	for attempt := 0; attempt < 10; attempt++ {
		if d := backoff(attempt, 0); d <= 0 || d > maxBackoff {
			t.Fatalf("attempt %d: %v", attempt, d)
		}
	}
	if backoff(0, 1500*time.Millisecond) != 1500*time.Millisecond {
		t.Fatal("the server's Retry-After is not honoured")
	}
}

func TestRetriesOnlyOn429And503(t *testing.T) {
	var calls int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := atomic.AddInt32(&calls, 1)
		switch {
		case r.URL.Path == "/v1/sandboxes/tiers" && n == 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
			io.WriteString(w, `{"code":"rate_limited","message":"slow down"}`)
		case r.URL.Path == "/v1/sandboxes/tiers" && n == 2:
			w.WriteHeader(503)
			io.WriteString(w, `{"code":"no_capacity","message":"full"}`)
		case r.URL.Path == "/v1/sandboxes/tiers":
			io.WriteString(w, `{"tiers":[{"tier":"nano","name":"nano","msats_per_second":500}]}`)
		default:
			w.WriteHeader(500)
			io.WriteString(w, `{"code":"internal","message":"boom"}`)
		}
	}))
	defer server.Close()
	client := NewClient(WithBaseURL(server.URL), WithAPIKey("k"))
	tiers, err := client.ListTiers(context.Background())
	if err != nil || len(tiers) != 1 || tiers[0].MsatsPerSecond != 500 || atomic.LoadInt32(&calls) != 3 {
		t.Fatalf("tiers %v err %v calls %d", tiers, err, calls)
	}
	atomic.StoreInt32(&calls, 10)
	_, err = client.ListSandboxes(context.Background(), ListSandboxesParams{})
	var server500 *ServerError
	if !errors.As(err, &server500) || atomic.LoadInt32(&calls) != 11 {
		t.Fatalf("a 500 is not retried: %v after %d calls", err, calls)
	}
}

func TestServerSentEventsAreParsedAcrossLinesAndComments(t *testing.T) {
	body := ": keep-alive\n\nevent: stdout\nid: 1\ndata: {\"chunk\":\"a\\n\",\"offset\":0}\n\n" +
		"event: omitted\r\ndata: {\"bytes\":7}\r\n\r\nevent: end\ndata: {\"status\":\"completed\",\"exit_code\":0}\n\n"
	var events []StreamEvent
	progressed, ended, err := readEvents(strings.NewReader(body), func(ev sseEvent) (bool, error) {
		return deliver(ev, func(e StreamEvent) error { events = append(events, e); return nil })
	})
	if err != nil || !progressed || !ended || len(events) != 3 {
		t.Fatalf("events %+v progressed %v ended %v err %v", events, progressed, ended, err)
	}
	if events[0].Data != "a\n" || events[1].OmittedBytes != 7 || events[2].Status != "completed" || *events[2].ExitCode != 0 {
		t.Fatalf("events %+v", events)
	}
}

func TestWebSocketFramesRoundTrip(t *testing.T) {
	var wire bytes.Buffer
	sh := &Shell{conn: nopCloser{&wire}}
	long := strings.Repeat("x", 70000)
	if err := sh.Write(long); err != nil {
		t.Fatal(err)
	}
	opcode, payload, err := readFrame(bufio.NewReader(&wire))
	if err != nil || opcode != opText || !strings.Contains(string(payload), long) {
		t.Fatalf("opcode %d err %v len %d", opcode, err, len(payload))
	}
}

type nopCloser struct{ io.ReadWriter }

func (nopCloser) Close() error { return nil }
