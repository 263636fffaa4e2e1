package config

import (
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/store"
)

func TestRedisWaitCount(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    int
		wantErr bool
	}{
		{"auto", "auto", store.AutoReplicas, false},
		{"empty is auto", "", store.AutoReplicas, false},
		{"auto with spaces", " auto ", store.AutoReplicas, false},
		{"off", "0", 0, false},
		{"two", "2", 2, false},
		{"negative", "-1", 0, true},
		{"word", "yes", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := RedisWait{Replicas: tt.value}
			got, err := w.Count()
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Count(%q) = %d, %v; want %d, error %v", tt.value, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
