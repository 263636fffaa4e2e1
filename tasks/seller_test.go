package tasks

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateSeller(t *testing.T) {
	tests := []struct {
		name, want string // want: "" = valid, else a fragment of the error
	}{
		{"default", ""},
		{"acme", ""},
		{"shop-7", ""},
		{"a_b", ""},
		{"7eleven", ""},
		{strings.Repeat("a", 32), ""},
		{"", "empty"},
		{strings.Repeat("a", 33), "longer than 32"},
		{"Acme", "must start"},
		{"aCme", "U+0043 at position 2"},
		{"-acme", "must start"},
		{"_acme", "must start"},
		{"ac me", "U+0020 at position 3"},
		{"ac:me", "U+003A at position 3"},
		{"ac{me", "U+007B"},
		{"店铺", "must start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSeller(tt.name)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateSeller(%q) = %v, want nil", tt.name, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ValidateSeller(%q) = %v, want an error containing %q", tt.name, err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestQueueForAndBack(t *testing.T) {
	tests := []struct {
		base, seller, queue string
	}{
		{"wdt-cancel", "default", "wdt-cancel"},
		{"wdt-cancel", "", "wdt-cancel"},
		{"wdt-cancel", "acme", "wdt-cancel:acme"},
		{"other", "shop-7", "other:shop-7"},
	}
	for _, tt := range tests {
		if got := QueueFor(tt.base, tt.seller); got != tt.queue {
			t.Errorf("QueueFor(%q, %q) = %q, want %q", tt.base, tt.seller, got, tt.queue)
		}
		want := tt.seller
		if want == "" {
			want = DefaultSeller
		}
		if got, ok := SellerOfQueue(tt.base, tt.queue); !ok || got != want {
			t.Errorf("SellerOfQueue(%q, %q) = %q, %v; want %q, true", tt.base, tt.queue, got, ok, want)
		}
	}
	for _, q := range []string{"wdt-cancelx", "wdt-cancel:", "wdt-cancel:Acme", "wdt-cancel:default", "other:acme", "wdt-cancel:a:b"} {
		if s, ok := SellerOfQueue("wdt-cancel", q); ok {
			t.Errorf("SellerOfQueue(wdt-cancel, %q) = %q, true; want not a seller queue", q, s)
		}
	}
}

func TestNewCancelTaskForSeller(t *testing.T) {
	at := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	single, err := NewCancelTask("RK1", "erp", at)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(single.Payload()), "seller") {
		t.Fatalf("default seller payload names a seller: %s (single-seller payloads must not change)", single.Payload())
	}
	task, err := NewCancelTaskFor("acme", "RK1", "erp", at)
	if err != nil {
		t.Fatal(err)
	}
	var p Payload
	if err := json.Unmarshal(task.Payload(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Seller != "acme" || p.SellerName() != "acme" {
		t.Fatalf("payload seller = %q, want acme", p.Seller)
	}
	decoded, err := DecodePayload(task.Payload())
	if err != nil || decoded.SellerName() != "acme" {
		t.Fatalf("DecodePayload = %+v, %v; want seller acme", decoded, err)
	}
	if _, err := NewCancelTaskFor("Acme", "RK1", "", at); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad seller: err = %v, want ErrInvalid", err)
	}
	if _, err := DecodePayload([]byte(`{"pre_stockin_no":"RK1","requested_at":"2026-11-28T03:00:00Z","seller":"a b"}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("payload with a bad seller: err = %v, want ErrInvalid", err)
	}
	old, err := DecodePayload([]byte(`{"pre_stockin_no":"RK1","requested_at":"2026-11-28T03:00:00Z"}`))
	if err != nil || old.SellerName() != DefaultSeller {
		t.Fatalf("old payload: %+v, %v; want the default seller", old, err)
	}
}

func TestValidateBaseQueue(t *testing.T) {
	tests := []struct{ q, want string }{
		{"wdt-cancel", ""},
		{"erp2-cancel", ""},
		{"", "empty"},
		{"wdt-cancel:s2", "--queue wdt-cancel --seller s2"},
		{"a{b}", "braces"},
		{"a b", "white space"},
	}
	for _, tt := range tests {
		err := ValidateBaseQueue(tt.q)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tt.q, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v, want one containing %q", tt.q, err, tt.want)
		}
	}
}
