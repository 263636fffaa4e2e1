package tasks

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestNormalizeNo(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"RK2004210014", "RK2004210014", ""},
		{"  RK-1_a.b\t\r\n", "RK-1_a.b", ""},
		{strings.Repeat("9", 64), strings.Repeat("9", 64), ""},
		{"", "", "empty"},
		{" \t ", "", "empty"},
		{strings.Repeat("9", 65), "", "longer than 64"},
		{"RK 1", "", "character U+0020 at position 3 is not allowed"},
		{"RK退1", "", "character U+9000 at position 3"},
		{"RK/1", "", "character U+002F at position 3"},
		{"\"RK1\"", "", "character U+0022 at position 1"},
		{"RK\x001", "", "character U+0000 at position 3"},
		{"RK\xff", "", "not valid UTF-8"},
	}
	for _, tt := range tests {
		got, err := NormalizeNo(tt.in)
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("%q: %q, %v", tt.in, got, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
		}
		var ie *InvalidNoError
		if !errors.As(err, &ie) {
			t.Errorf("%q: not an *InvalidNoError", tt.in)
		}
	}
}

func FuzzNormalizeNo(f *testing.F) {
	for _, s := range []string{"RK1", " RK1 ", "", "RK 1", "退货", strings.Repeat("a", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		no, err := NormalizeNo(in)
		if err != nil {
			if no != "" || !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: %q %v", in, no, err)
			}
			return
		}
		if len(no) == 0 || len(no) > MaxNoLength || strings.TrimFunc(no, allowed) != "" {
			t.Fatalf("%q accepted as %q", in, no)
		}
		// A valid number survives a round trip through the payload.
		task, err := NewCancelTask(in, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p, err := DecodePayload(task.Payload())
		if err != nil || p.PreStockinNo != no {
			t.Fatalf("round trip %q: %+v %v", in, p, err)
		}
	})
}

func TestNewCancelTask(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	task, err := NewCancelTask(" RK1 ", "erp-sync", at, asynq.MaxRetry(3), asynq.TaskID("other"))
	if err != nil {
		t.Fatal(err)
	}
	if task.Type() != TypeCancel {
		t.Fatalf("type %s", task.Type())
	}
	want := `{"pre_stockin_no":"RK1","requested_at":"2026-11-27T00:00:00.123Z","source":"erp-sync"}`
	if string(task.Payload()) != want {
		t.Fatalf("payload %s", task.Payload())
	}
	if _, err := NewCancelTask("RK1", "bad\nsource", at); !errors.Is(err, ErrInvalid) {
		t.Fatalf("control character in source accepted: %v", err)
	}
}

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		name, in, err string
	}{
		{"ok", `{"pre_stockin_no":"RK1","requested_at":"2026-01-01T00:00:00Z"}`, ""},
		{"ok with source", `{"pre_stockin_no":"RK1","requested_at":"2026-01-01T00:00:00Z","source":"x"}`, ""},
		{"unknown field", `{"pre_stockin_no":"RK1","requested_at":"2026-01-01T00:00:00Z","qty":1}`, "unknown field"},
		// encoding/json matches names case-insensitively and keeps the last
		// of repeated keys: both would be read as a number to cancel.
		{"upper-case name", `{"PRE_STOCKIN_NO":"RK1","requested_at":"2026-01-01T00:00:00Z"}`, `unknown field "PRE_STOCKIN_NO"`},
		{"mixed-case twin", `{"pre_stockin_no":"A","Pre_Stockin_No":"B","requested_at":"2026-01-01T00:00:00Z"}`, `unknown field "Pre_Stockin_No"`},
		{"long s folds to s", `{"pre_stockin_no":"RK1","requested_at":"2026-01-01T00:00:00Z","ſeller":"acme"}`, `unknown field "\u017feller"`},
		{"key twice", `{"pre_stockin_no":"A","pre_stockin_no":"B","requested_at":"2026-01-01T00:00:00Z"}`, `"pre_stockin_no" given more than once`},
		{"missing number", `{"requested_at":"2026-01-01T00:00:00Z"}`, `missing field "pre_stockin_no"`},
		{"missing time", `{"pre_stockin_no":"RK1"}`, `missing field "requested_at"`},
		{"bad number", `{"pre_stockin_no":"RK 1","requested_at":"2026-01-01T00:00:00Z"}`, "U+0020"},
		{"padded number", `{"pre_stockin_no":" RK1","requested_at":"2026-01-01T00:00:00Z"}`, "white space"},
		{"bad time", `{"pre_stockin_no":"RK1","requested_at":"yesterday"}`, "requested_at"},
		{"not json", `RK1`, "not a JSON object"},
		{"array", `["RK1"]`, "not a JSON object"},
		{"trailing", `{"pre_stockin_no":"RK1","requested_at":"2026-01-01T00:00:00Z"}{}`, "not a JSON object"},
		{"empty", ``, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodePayload([]byte(tt.in))
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want %q", err, tt.err)
			}
		})
	}
}

func BenchmarkDecodePayload(b *testing.B) {
	task, _ := NewCancelTask("RK2004210014", "erp-sync", time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodePayload(task.Payload()); err != nil {
			b.Fatal(err)
		}
	}
}
