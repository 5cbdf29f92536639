package sockt

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// longPoll is how long one poll waits on the server for news.
const longPoll = 25 * time.Second

// streamReconnects is how many reconnections in a row, without a new
// event, a stream makes before it gives up.
const streamReconnects = 5

// Execution is a command started in a sandbox: wait for it (by long-poll:
// each request waits on the server for news), stream its output, write to
// its standard input, cancel it.
type Execution struct {
	ID        string
	SandboxID string
	Command   string

	t          *transport
	credential string
	first      *page
}

// OutputHandlers receive output as it arrives while Wait runs.
type OutputHandlers struct {
	OnStdout func(chunk string)
	OnStderr func(chunk string)
}

// page is one answer about an execution: the chunks after the cursor it
// was asked with, and where the command stands.
type page struct {
	ExecutionID string `json:"execution_id"`
	SandboxID   string `json:"sandbox_id"`
	Command     string `json:"command"`
	Status      string `json:"status"`
	Output      *[]struct {
		Stream string `json:"stream"`
		Chunk  string `json:"chunk"`
	} `json:"output"`
	NextOffset     *int     `json:"next_offset"`
	OmittedBytes   int64    `json:"omitted_bytes"`
	ExitCode       *int     `json:"exit_code"`
	Error          *string  `json:"error"`
	DurationMs     *int64   `json:"duration_ms"`
	PendingInvoice *Invoice `json:"pending_invoice"`
}

func newExecution(t *transport, credential string, p *page) *Execution {
	return &Execution{ID: p.ExecutionID, SandboxID: p.SandboxID, Command: p.Command, t: t, credential: credential, first: p}
}

// Poll returns where the command stands now, with all its output so far.
func (e *Execution) Poll(ctx context.Context) (*ExecResult, error) {
	var out output
	p, err := e.page(ctx, -1, 0)
	if err != nil {
		return nil, err
	}
	out.add(p, nil)
	return out.result(e.ID), nil
}

// Wait waits for the command to end, passing output to handlers (may be
// nil) as it comes. When ctx ends first, the command is cancelled.
func (e *Execution) Wait(ctx context.Context, handlers *OutputHandlers) (*ExecResult, error) {
	var out output
	if e.first != nil && e.first.Output != nil {
		out.add(e.first, handlers)
	}
	e.first = nil
	for !out.finished {
		asked := time.Now()
		p, err := e.page(ctx, out.offset, longPoll)
		if err != nil {
			if ctx.Err() != nil {
				cancelCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, _ = e.Cancel(cancelCtx)
				cancel()
			}
			return nil, err
		}
		news := out.add(p, handlers)
		// A server that cannot wait (or keeps no output here) is not hammered.
		if !news && !out.finished && time.Since(asked) < 100*time.Millisecond {
			if err := sleep(ctx, 250*time.Millisecond); err != nil {
				return nil, err
			}
		}
	}
	return out.result(e.ID), nil
}

// WriteStdin writes to the command's standard input (it must have been
// started with Stdin); close sends end-of-file after the data.
func (e *Execution) WriteStdin(ctx context.Context, data []byte, close bool) error {
	body := map[string]interface{}{"data": base64.StdEncoding.EncodeToString(data), "encoding": "base64", "close": close}
	return e.t.do(ctx, request{method: "POST", path: "/v1/executions/" + url.PathEscape(e.ID) + "/stdin", body: body, credential: e.credential}, nil)
}

// Cancel stops the command and returns where it ended.
func (e *Execution) Cancel(ctx context.Context) (*ExecResult, error) {
	var p page
	if err := e.t.do(ctx, request{method: "DELETE", path: "/v1/executions/" + url.PathEscape(e.ID), credential: e.credential}, &p); err != nil {
		return nil, err
	}
	var out output
	out.add(&p, nil)
	return out.result(e.ID), nil
}

func (e *Execution) page(ctx context.Context, offset int, wait time.Duration) (*page, error) {
	query := url.Values{}
	if offset >= 0 {
		query.Set("offset", strconv.Itoa(offset))
	}
	if wait > 0 {
		query.Set("wait_ms", strconv.FormatInt(wait.Milliseconds(), 10))
	}
	var p page
	err := e.t.do(ctx, request{method: "GET", path: "/v1/executions/" + url.PathEscape(e.ID), query: query, credential: e.credential}, &p)
	return &p, err
}

// output gathers pages (each holds the chunks after its cursor).
type output struct {
	offset   int
	finished bool
	status   string
	stdout   strings.Builder
	stderr   strings.Builder
	last     *page
}

// add takes a page in and says whether it brought news.
func (o *output) add(p *page, handlers *OutputHandlers) bool {
	o.last = p
	news := false
	if p.Output != nil {
		for _, chunk := range *p.Output {
			news = true
			if chunk.Stream == "stderr" {
				o.stderr.WriteString(chunk.Chunk)
				if handlers != nil && handlers.OnStderr != nil {
					handlers.OnStderr(chunk.Chunk)
				}
			} else {
				o.stdout.WriteString(chunk.Chunk)
				if handlers != nil && handlers.OnStdout != nil {
					handlers.OnStdout(chunk.Chunk)
				}
			}
		}
	}
	if p.NextOffset != nil {
		o.offset = *p.NextOffset
	}
	if p.Status != o.status {
		news = true
	}
	o.status = p.Status
	o.finished = p.Status != "running" && p.Status != ""
	return news
}

func (o *output) result(id string) *ExecResult {
	r := &ExecResult{ExecutionID: id, Status: o.status, Stdout: o.stdout.String(), Stderr: o.stderr.String()}
	if p := o.last; p != nil {
		r.ExitCode, r.OmittedBytes, r.DurationMs, r.PendingInvoice = p.ExitCode, p.OmittedBytes, p.DurationMs, p.PendingInvoice
		if p.Error != nil {
			r.Error = *p.Error
		}
	}
	return r
}

// StreamEvent is one event of an execution's stream: Type "stdout" or
// "stderr" (Data, Offset), "omitted" (OmittedBytes), or "end" (Status,
// ExitCode, Error).
type StreamEvent struct {
	Type         string
	Data         string
	Offset       int
	OmittedBytes int64
	Status       string
	ExitCode     *int
	Error        string
}

// Stream follows the output as Server-Sent Events from offset (0: the
// start), calling fn for each event until the "end" event (included) or
// until fn returns an error. A dropped connection resumes from the last
// event seen, so no byte is lost or repeated.
func (e *Execution) Stream(ctx context.Context, offset int, fn func(StreamEvent) error) error {
	lastID := ""
	if offset > 0 {
		lastID = strconv.Itoa(offset)
	}
	quiet := 0
	for {
		headers := map[string]string{"Accept": "text/event-stream"}
		if lastID != "" {
			headers["Last-Event-ID"] = lastID
		}
		response, err := e.t.send(ctx, request{method: "GET", path: "/v1/executions/" + url.PathEscape(e.ID) + "/stream", credential: e.credential, headers: headers})
		if err != nil {
			return err
		}
		progressed, ended, err := readEvents(response.Body, func(ev sseEvent) (bool, error) {
			if ev.id != "" {
				lastID = ev.id
			}
			return deliver(ev, fn)
		})
		response.Body.Close()
		if ended {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if progressed {
			quiet = 0
		} else if quiet++; quiet >= streamReconnects {
			return errors.New("sockt: the execution stream kept ending without news")
		}
	}
}

// deliver turns an SSE event into a StreamEvent for fn; whether it ended
// the stream.
func deliver(ev sseEvent, fn func(StreamEvent) error) (bool, error) {
	var data struct {
		Chunk        string  `json:"chunk"`
		Offset       int     `json:"offset"`
		Bytes        int64   `json:"bytes"`
		Status       string  `json:"status"`
		ExitCode     *int    `json:"exit_code"`
		Error        *string `json:"error"`
		OmittedBytes int64   `json:"omitted_bytes"`
		Code         string  `json:"code"`
		Message      string  `json:"message"`
	}
	if ev.data != "" {
		if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
			return true, fmt.Errorf("sockt: a stream event is not JSON: %w", err)
		}
	}
	switch ev.event {
	case "stdout", "stderr":
		return false, fn(StreamEvent{Type: ev.event, Data: data.Chunk, Offset: data.Offset})
	case "omitted":
		return false, fn(StreamEvent{Type: "omitted", OmittedBytes: data.Bytes})
	case "end":
		end := StreamEvent{Type: "end", Status: data.Status, ExitCode: data.ExitCode, OmittedBytes: data.OmittedBytes}
		if data.Error != nil {
			end.Error = *data.Error
		}
		if err := fn(end); err != nil {
			return true, err
		}
		return true, nil
	case "error":
		return true, &APIError{Code: data.Code, Message: data.Message}
	}
	return false, nil
}

type sseEvent struct {
	event, data, id string
}

// readEvents parses a text/event-stream body, handing each event to fn
// (which says whether the stream is over). It returns whether any event
// came, whether the stream ended, and fn's error.
func readEvents(body io.Reader, fn func(sseEvent) (bool, error)) (progressed, ended bool, err error) {
	scanner := bufio.NewScanner(body)
	scanner.Buffer(make([]byte, 64*1024), 4<<20)
	ev := sseEvent{event: "message"}
	hasData := false
	for scanner.Scan() {
		line := strings.TrimSuffix(scanner.Text(), "\r")
		if line == "" {
			if hasData {
				progressed = true
				done, err := fn(ev)
				if done || err != nil {
					return progressed, true, err
				}
			}
			ev, hasData = sseEvent{event: "message"}, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.event = value
		case "id":
			ev.id = value
		case "data":
			if hasData {
				ev.data += "\n" + value
			} else {
				ev.data = value
			}
			hasData = true
		}
	}
	return progressed, false, nil
}
