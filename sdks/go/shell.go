package sockt

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Shell is an interactive shell (a PTY running bash) in a sandbox, over a
// WebSocket: Write types, Resize sizes the terminal, Read returns what the
// sandbox sends until the shell ends (io.EOF).
type Shell struct {
	conn   io.ReadWriteCloser
	reader *bufio.Reader
	write  sync.Mutex
}

// ShellMessage is one message from the shell: Type "stdout" or "stderr"
// (terminal output in Data), or a notice ("billing", "low_balance",
// "out_of_balance", "error", …).
type ShellMessage struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

// Shell opens an interactive shell. The server issues a short-lived URL
// that authorizes itself; the connection goes there.
func (s *Sandbox) Shell(ctx context.Context, cols, rows int) (*Shell, error) {
	var answer struct {
		URL string `json:"url"`
	}
	if err := s.do(ctx, "GET", "/shell-url", nil, nil, &answer); err != nil {
		return nil, err
	}
	conn, err := dialWebSocket(ctx, s.t.http, answer.URL)
	if err != nil {
		return nil, err
	}
	shell := &Shell{conn: conn, reader: bufio.NewReader(conn)}
	if cols > 0 && rows > 0 {
		if err := shell.Resize(cols, rows); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return shell, nil
}

// Write types data into the terminal.
func (sh *Shell) Write(data string) error {
	return sh.send(map[string]interface{}{"type": "input", "data": data})
}

// Resize tells the terminal its size.
func (sh *Shell) Resize(cols, rows int) error {
	return sh.send(map[string]interface{}{"type": "resize", "cols": cols, "rows": rows})
}

// Read returns the next message; io.EOF once the shell has closed.
func (sh *Shell) Read() (ShellMessage, error) {
	for {
		opcode, payload, err := readFrame(sh.reader)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return ShellMessage{}, io.EOF
			}
			return ShellMessage{}, err
		}
		switch opcode {
		case opText, opBinary:
			var message ShellMessage
			if json.Unmarshal(payload, &message) == nil {
				return message, nil
			}
		case opPing:
			if err := sh.frame(opPong, payload); err != nil {
				return ShellMessage{}, err
			}
		case opClose:
			_ = sh.frame(opClose, nil)
			return ShellMessage{}, io.EOF
		}
	}
}

// Close ends the shell (the sandbox keeps running).
func (sh *Shell) Close() error {
	_ = sh.frame(opClose, nil)
	return sh.conn.Close()
}

func (sh *Shell) send(message interface{}) error {
	payload, err := json.Marshal(message)
	if err != nil {
		return err
	}
	return sh.frame(opText, payload)
}

// WebSocket opcodes (RFC 6455).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// websocketGUID is RFC 6455's fixed key suffix.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// maxFrame bounds one incoming frame.
const maxFrame = 16 << 20

// frame writes one masked frame (clients must mask).
func (sh *Shell) frame(opcode byte, payload []byte) error {
	sh.write.Lock()
	defer sh.write.Unlock()
	header := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		header = append(header, 0x80|byte(n))
	case n <= 0xFFFF:
		header = append(header, 0x80|126, byte(n>>8), byte(n))
	default:
		header = append(header, 0x80|127)
		header = binary.BigEndian.AppendUint64(header, uint64(n))
	}
	var mask [4]byte
	if _, err := rand.Read(mask[:]); err != nil {
		return err
	}
	header = append(header, mask[:]...)
	masked := make([]byte, len(payload))
	for i, b := range payload {
		masked[i] = b ^ mask[i%4]
	}
	_, err := sh.conn.Write(append(header, masked...))
	return err
}

// readFrame reads one message (joining continuation frames).
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var message []byte
	var first byte
	for {
		var head [2]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return 0, nil, err
		}
		fin, opcode := head[0]&0x80 != 0, head[0]&0x0F
		length := uint64(head[1] & 0x7F)
		switch length {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(r, ext[:]); err != nil {
				return 0, nil, err
			}
			length = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(r, ext[:]); err != nil {
				return 0, nil, err
			}
			length = binary.BigEndian.Uint64(ext[:])
		}
		if length > maxFrame || uint64(len(message))+length > maxFrame {
			return 0, nil, fmt.Errorf("sockt: a shell message over %d bytes", maxFrame)
		}
		var mask [4]byte
		masked := head[1]&0x80 != 0
		if masked {
			if _, err := io.ReadFull(r, mask[:]); err != nil {
				return 0, nil, err
			}
		}
		payload := make([]byte, length)
		if _, err := io.ReadFull(r, payload); err != nil {
			return 0, nil, err
		}
		if masked {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		if opcode >= opClose {
			// Control frames stand alone, even between fragments.
			return opcode, payload, nil
		}
		if opcode != opContinuation {
			first = opcode
		}
		message = append(message, payload...)
		if fin {
			return first, message, nil
		}
	}
}

// dialWebSocket upgrades an HTTP connection to a WebSocket (a 101 answer's
// body is the connection, both ways).
func dialWebSocket(ctx context.Context, client *http.Client, target string) (io.ReadWriteCloser, error) {
	httpURL := target
	if rest, ok := cutPrefix(target, "ws://"); ok {
		httpURL = "http://" + rest
	} else if rest, ok := cutPrefix(target, "wss://"); ok {
		httpURL = "https://" + rest
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req, err := http.NewRequestWithContext(ctx, "GET", httpURL, nil)
	if err != nil {
		return nil, fmt.Errorf("sockt: the shell URL is not valid")
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", key)
	response, err := client.Do(req)
	if err != nil {
		// The URL carries a one-time ticket: it is not quoted.
		return nil, errors.New("sockt: could not connect to the shell")
	}
	if response.StatusCode != http.StatusSwitchingProtocols {
		return nil, readError(response, 0)
	}
	sum := sha1.Sum([]byte(key + websocketGUID))
	if response.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		response.Body.Close()
		return nil, errors.New("sockt: the shell answered a bad WebSocket handshake")
	}
	conn, ok := response.Body.(io.ReadWriteCloser)
	if !ok {
		response.Body.Close()
		return nil, errors.New("sockt: the HTTP client cannot upgrade connections")
	}
	return conn, nil
}

func cutPrefix(s, prefix string) (string, bool) {
	if strings.HasPrefix(s, prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
