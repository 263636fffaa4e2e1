package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/worker"
)

// notifyFlags are the worker's flags of the outcome events: the stream's
// caps and the webhook delivery (docs/architecture.md, "Outcome events").
type notifyFlags struct {
	secretFile string
}

// notifySecretEnv holds the webhook's HMAC secret. It is a variable, not a
// flag, so the secret never shows in a process list.
const notifySecretEnv = "WDTCANCEL_NOTIFY_SECRET"

func (n *notifyFlags) add(f *pflag.FlagSet, cfg *worker.Config) {
	f.StringVar(&cfg.Notify.URL, "notify-url", "", "POST every outcome event to this URL, signed with HMAC-SHA256 ("+notifySecretEnv+" or --notify-secret-file); \"\" delivers nothing (the events stream is written all the same)")
	f.StringVar(&n.secretFile, "notify-secret-file", "", "file whose first line is the webhook's HMAC secret (instead of "+notifySecretEnv+")")
	f.IntVar(&cfg.Notify.Concurrency, "notify-concurrency", worker.DefaultNotifyConcurrency, "webhook POSTs in flight at once per seller in this process (events of one number in order)")
	f.DurationVar(&cfg.Notify.Timeout, "notify-timeout", worker.DefaultNotifyTimeout, "longest webhook POST, answer included; a slower receiver counts as a failure and is tried again")
	f.DurationVar(&cfg.Notify.ClaimIdle, "notify-claim-idle", worker.DefaultNotifyClaimIdle, "an event a worker has held this long without renewing it (the worker died) is delivered by another")
	f.Int64Var(&cfg.EventsMaxLen, "events-max-len", store.DefaultEventsMaxLen, "events kept per seller in the events stream (trimmed approximately; the oldest go first)")
	f.DurationVar(&cfg.EventsMaxAge, "events-max-age", store.DefaultEventsMaxAge, "events older than this are trimmed from the events stream")
}

// resolve reads the secret and checks the URL; an error says what to fix.
func (n *notifyFlags) resolve(cfg *worker.Config) error {
	if cfg.EventsMaxLen < 0 || cfg.EventsMaxAge < 0 || cfg.Notify.Concurrency < 0 || cfg.Notify.Timeout < 0 || cfg.Notify.ClaimIdle < 0 {
		return errors.New("--events-max-len, --events-max-age, --notify-concurrency, --notify-timeout and --notify-claim-idle must not be negative")
	}
	secret := os.Getenv(notifySecretEnv)
	if n.secretFile != "" {
		if secret != "" {
			return fmt.Errorf("both %s and --notify-secret-file are set: keep one", notifySecretEnv)
		}
		b, err := os.ReadFile(n.secretFile)
		if err != nil {
			return fmt.Errorf("--notify-secret-file: %w", err)
		}
		secret, _, _ = strings.Cut(string(b), "\n")
		secret = strings.TrimSpace(secret)
	}
	if cfg.Notify.URL == "" {
		return nil
	}
	u, err := url.Parse(cfg.Notify.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("--notify-url is not an http(s) URL: give the receiver's full address, e.g. https://erp.example.com/wdtcancel/events")
	}
	if secret == "" {
		return fmt.Errorf("--notify-url is set but no secret: export %s or set --notify-secret-file (receivers verify the signature with it)", notifySecretEnv)
	}
	cfg.Notify.Secret = []byte(secret)
	return nil
}
