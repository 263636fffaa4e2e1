// Package tasks is the contract between producers and workers: the task
// type, its payload, how a pre_stockin_no is validated, the task ID and the
// default options. Both sides import it and nothing else of ours, so a
// producer written against it cannot disagree with the worker.
package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hibiken/asynq"
)

// TypeCancel is the asynq task type of one cancellation.
const TypeCancel = "wdt:prestockin:cancel"

// Defaults of a cancel task.
//
// DefaultMaxRetry is the one retry budget: producers give every task this
// asynq MaxRetry and the worker's --max-retry defaults to it, so `status`,
// the HTTP API, asynqmon and the worker agree. It counts only network and
// unknown-outcome failures: throttling, clock skew, configuration faults and
// attempts held by the circuit breaker never use it up (see the worker). A
// number is dead-lettered as exhausted after this many failed attempts.
const (
	DefaultQueue     = "wdt-cancel"
	DefaultMaxRetry  = 20
	DefaultTimeout   = 2 * time.Minute
	DefaultRetention = 7 * 24 * time.Hour
	MaxNoLength      = 64
	MaxSourceLength  = 128
)

// Payload is the JSON body of a cancel task.
type Payload struct {
	PreStockinNo string    `json:"pre_stockin_no"`
	RequestedAt  time.Time `json:"requested_at"`
	Source       string    `json:"source,omitempty"`
	// Seller names the WDT seller the order belongs to (docs/sellers.md).
	// Empty means DefaultSeller: every task enqueued before sellers existed,
	// and every task of a single-seller deployment, which keeps its payload
	// byte for byte.
	Seller string `json:"seller,omitempty"`
}

// SellerName is the seller the task belongs to, DefaultSeller when the
// payload names none.
func (p Payload) SellerName() string {
	if p.Seller == "" {
		return DefaultSeller
	}
	return p.Seller
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid")

// InvalidNoError says what is wrong with a pre_stockin_no.
type InvalidNoError struct {
	No     string // as given, clipped
	Reason string
}

func (e *InvalidNoError) Error() string {
	return fmt.Sprintf("invalid pre_stockin_no %q: %s", e.No, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *InvalidNoError) Unwrap() error { return ErrInvalid }

// NormalizeNo trims surrounding white space and validates: 1-64 letters,
// digits, '-', '_' and '.', at least one of them a letter or a digit. The
// error names the first offending character and its position (1-based, in
// characters). A number made only of punctuation ("-", ".", "..", "--") is
// refused: no ERP issues one, and "-" is what a command line means by stdin.
func NormalizeNo(raw string) (string, error) {
	no := strings.TrimSpace(raw)
	bad := func(reason string) (string, error) {
		shown := no
		if utf8.RuneCountInString(shown) > 80 {
			shown = string([]rune(shown)[:80]) + "…"
		}
		return "", &InvalidNoError{No: shown, Reason: reason}
	}
	if no == "" {
		return bad("empty")
	}
	if !utf8.ValidString(no) {
		return bad("not valid UTF-8")
	}
	pos := 0
	for _, r := range no {
		pos++
		if !allowed(r) {
			return bad(fmt.Sprintf("character %U at position %d is not allowed (use letters, digits, '-', '_', '.')", r, pos))
		}
	}
	if n := len(no); n > MaxNoLength {
		return bad(fmt.Sprintf("longer than %d (%d characters)", MaxNoLength, n))
	}
	if !strings.ContainsFunc(no, alnum) {
		return bad("no letter or digit (only '-', '_' and '.')")
	}
	return no, nil
}

func allowed(r rune) bool {
	return alnum(r) || r == '-' || r == '_' || r == '.'
}

func alnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// ValidateSource checks the optional producer label.
func ValidateSource(s string) error {
	if len(s) > MaxSourceLength {
		return fmt.Errorf("%w source: longer than %d bytes", ErrInvalid, MaxSourceLength)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w source: not valid UTF-8", ErrInvalid)
	}
	for i, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w source: control character %U at byte %d", ErrInvalid, r, i)
		}
	}
	return nil
}

// DefaultOptions are the asynq options of a cancel task: queue, retry
// budget, timeout, retention, and the number itself as task ID so a number
// is enqueued at most once while pending, retrying, dead or recently done.
func DefaultOptions(no string) []asynq.Option {
	return []asynq.Option{
		asynq.Queue(DefaultQueue),
		asynq.MaxRetry(DefaultMaxRetry),
		asynq.Timeout(DefaultTimeout),
		asynq.Retention(DefaultRetention),
		asynq.TaskID(no),
	}
}

// NewCancelTask validates no and source and builds the task. opts are
// applied after the defaults, so they override them (asynq keeps the last
// option of each kind); the task ID always stays the number.
func NewCancelTask(no, source string, requestedAt time.Time, opts ...asynq.Option) (*asynq.Task, error) {
	return NewCancelTaskFor(DefaultSeller, no, source, requestedAt, opts...)
}

// NewCancelTaskFor is NewCancelTask for a named seller: the payload names the
// seller (left out for DefaultSeller, so a single-seller payload is unchanged)
// and the task goes to the seller's queue under DefaultQueue. A deployment
// with another base queue passes asynq.Queue(QueueFor(base, seller)) in opts.
func NewCancelTaskFor(seller, no, source string, requestedAt time.Time, opts ...asynq.Option) (*asynq.Task, error) {
	if err := ValidateSeller(seller); err != nil {
		return nil, err
	}
	no, err := NormalizeNo(no)
	if err != nil {
		return nil, err
	}
	if err := ValidateSource(source); err != nil {
		return nil, err
	}
	p := Payload{PreStockinNo: no, RequestedAt: requestedAt.UTC().Truncate(time.Millisecond), Source: source}
	if seller != DefaultSeller {
		p.Seller = seller
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	all := append(DefaultOptions(no), asynq.Queue(QueueFor(DefaultQueue, seller)))
	all = append(all, opts...)
	all = append(all, asynq.TaskID(no))
	return asynq.NewTask(TypeCancel, body, all...), nil
}

// DecodePayload is the worker's strict reading of a payload: unknown fields,
// a missing number or time, trailing data and an invalid number are errors.
// It decodes in one pass: it runs once per task on the worker's hot path.
func DecodePayload(b []byte) (Payload, error) {
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Payload{}, fmt.Errorf("%w payload: not a JSON object", ErrInvalid)
	}
	// Exact keys: encoding/json would read "PRE_STOCKIN_NO" as
	// pre_stockin_no and keep the last of repeated keys.
	if err := CheckTopKeys(trimmed, "pre_stockin_no", "requested_at", "source", "seller"); err != nil {
		return Payload{}, fmt.Errorf("%w payload: %v", ErrInvalid, err)
	}
	var raw struct {
		PreStockinNo *string    `json:"pre_stockin_no"`
		RequestedAt  *time.Time `json:"requested_at"`
		Source       string     `json:"source"`
		Seller       string     `json:"seller"`
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		var te *time.ParseError
		if errors.As(err, &te) {
			return Payload{}, fmt.Errorf("%w payload: requested_at is not an RFC 3339 time: %v", ErrInvalid, err)
		}
		return Payload{}, fmt.Errorf("%w payload: not a JSON object: %v", ErrInvalid, err)
	}
	if dec.More() {
		return Payload{}, fmt.Errorf("%w payload: not a JSON object: trailing data after it", ErrInvalid)
	}
	switch {
	case raw.PreStockinNo == nil:
		return Payload{}, fmt.Errorf("%w payload: missing field %q", ErrInvalid, "pre_stockin_no")
	case raw.RequestedAt == nil:
		return Payload{}, fmt.Errorf("%w payload: missing field %q", ErrInvalid, "requested_at")
	}
	p := Payload{PreStockinNo: *raw.PreStockinNo, RequestedAt: *raw.RequestedAt, Source: raw.Source, Seller: raw.Seller}
	no, err := NormalizeNo(p.PreStockinNo)
	if err != nil {
		return Payload{}, err
	}
	if no != p.PreStockinNo {
		return Payload{}, fmt.Errorf("%w payload: pre_stockin_no %q has surrounding white space", ErrInvalid, p.PreStockinNo)
	}
	if err := ValidateSource(p.Source); err != nil {
		return Payload{}, err
	}
	if p.Seller != "" {
		if err := ValidateSeller(p.Seller); err != nil {
			return Payload{}, fmt.Errorf("payload: %w", err)
		}
	}
	return p, nil
}
