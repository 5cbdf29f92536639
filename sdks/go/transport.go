package sockt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The first backoff delay and its ceiling.
const (
	firstBackoff = 250 * time.Millisecond
	maxBackoff   = 8 * time.Second
)

// transport sends JSON requests with the Bearer credential in a header
// (never in a URL), maps error answers to typed errors and retries 429 and
// 503 answers with backoff (honouring Retry-After).
type transport struct {
	baseURL    string
	credential string
	maxRetries int
	http       *http.Client
}

// request is one call: a path under the base URL, a query, a JSON body and
// the credential to use when it is not the client's.
type request struct {
	method     string
	path       string
	query      url.Values
	body       interface{}
	credential string
	headers    map[string]string
}

// do sends the request and decodes a JSON answer into out (when not nil).
func (t *transport) do(ctx context.Context, r request, out interface{}) error {
	response, err := t.send(ctx, r)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, response.Body)
		return nil
	}
	if err := json.NewDecoder(response.Body).Decode(out); err != nil {
		return fmt.Errorf("sockt: %s %s answered something that is not the expected JSON: %w", r.method, r.path, err)
	}
	return nil
}

// send returns a successful response unread (the caller closes its body).
func (t *transport) send(ctx context.Context, r request) (*http.Response, error) {
	var payload []byte
	if r.body != nil {
		encoded, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("sockt: encoding the request: %w", err)
		}
		payload = encoded
	}
	target := t.baseURL + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	credential := r.credential
	if credential == "" {
		credential = t.credential
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, r.method, target, bytes.NewReader(payload))
		if err != nil {
			return nil, fmt.Errorf("sockt: %w", err)
		}
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if credential != "" {
			req.Header.Set("Authorization", "Bearer "+credential)
		}
		for name, value := range r.headers {
			req.Header.Set(name, value)
		}
		response, err := t.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("sockt: could not reach %s: %w", t.baseURL, err)
		}
		if response.StatusCode < 300 {
			return response, nil
		}
		retryAfter := retryAfterOf(response.Header.Get("Retry-After"))
		retriable := response.StatusCode == http.StatusTooManyRequests || response.StatusCode == http.StatusServiceUnavailable
		if retriable && attempt < t.maxRetries {
			_, _ = io.Copy(io.Discard, response.Body)
			response.Body.Close()
			if err := sleep(ctx, backoff(attempt, retryAfter)); err != nil {
				return nil, err
			}
			continue
		}
		return nil, readError(response, retryAfter)
	}
}

func (t *transport) url(path string) string {
	return t.baseURL + path
}

func readError(response *http.Response, retryAfter time.Duration) error {
	defer response.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(response.Body, 1<<20))
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) != nil {
		body.Message = strings.TrimSpace(string(raw))
	}
	return errorFor(response.StatusCode, body.Code, body.Message, retryAfter)
}

// backoff is the wait before retry number attempt (from 0): the server's
// Retry-After when it gave one, else exponential with jitter.
func backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		if retryAfter > time.Minute {
			return time.Minute
		}
		return retryAfter
	}
	ceiling := firstBackoff << uint(attempt)
	if ceiling > maxBackoff || ceiling <= 0 {
		ceiling = maxBackoff
	}
	return ceiling/2 + time.Duration(rand.Int63n(int64(ceiling/2)+1))
}

// retryAfterOf reads Retry-After: seconds or an HTTP date.
func retryAfterOf(header string) time.Duration {
	header = strings.TrimSpace(header)
	if header == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(header, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if at, err := http.ParseTime(header); err == nil {
		if wait := time.Until(at); wait > 0 {
			return wait
		}
	}
	return 0
}

// sleep waits d, or returns the context's error when it ends first.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
