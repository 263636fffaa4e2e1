package worker

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/store"
)

// Webhook delivery of outcome events (issue 23). Each lane with a notify URL
// runs one notifier: it reads the lane's events stream (store.EventsKey)
// through the consumer group NotifyGroup, so every worker may deliver and
// Redis hands each entry to one of them at a time; an entry stays pending
// until its receiver answered 2xx, and XAUTOCLAIM gives a dead worker's
// pending entries to a live one. Delivery runs on its own goroutines, HTTP
// client and breaker: a receiver that is down for a day only grows the
// stream's backlog; no cancellation waits for it.

// NotifyGroup is the consumer group of the webhook delivery. Other consumers
// create groups of their own (docs/architecture.md, "Outcome events").
const NotifyGroup = "wdtcancel-notify"

// Header names of a webhook POST (docs/architecture.md, "Verifying a
// webhook").
const (
	HeaderSignature = "X-Wdtcancel-Signature"
	HeaderTimestamp = "X-Wdtcancel-Timestamp"
	HeaderEventID   = "X-Wdtcancel-Event-Id"
)

// NotifyOptions configure the webhook delivery of every lane; a seller's own
// URL and secret (SellerLane) replace URL and Secret. Zero values take the
// defaults; URL "" delivers nothing (the stream is written all the same).
type NotifyOptions struct {
	URL string
	// Secret keys the HMAC-SHA256 signature. Never logged.
	Secret []byte
	// Concurrency is how many events one worker delivers at once per
	// seller; events of one number go to one of them, in stream order.
	Concurrency int
	// Timeout bounds one POST, including reading the answer.
	Timeout time.Duration
	// MaxBackoff caps the delay between two tries of one event.
	MaxBackoff time.Duration
	// ClaimIdle is how long an entry may stay pending with a consumer that
	// does not renew it before another worker claims it. A live worker
	// renews its entries while it retries them.
	ClaimIdle time.Duration
}

// Defaults of NotifyOptions.
const (
	DefaultNotifyConcurrency = 4
	DefaultNotifyTimeout     = 10 * time.Second
	DefaultNotifyMaxBackoff  = 5 * time.Minute
	DefaultNotifyClaimIdle   = time.Minute
)

func (o NotifyOptions) withDefaults() NotifyOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultNotifyConcurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultNotifyTimeout
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultNotifyMaxBackoff
	}
	if o.ClaimIdle <= 0 {
		o.ClaimIdle = DefaultNotifyClaimIdle
	}
	return o
}

// SignWebhook is the signature of a webhook POST: "v1=" and the hex HMAC-SHA256
// of the timestamp (Unix seconds, as sent in HeaderTimestamp), a dot and the
// body.
func SignWebhook(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// notifier delivers one lane's events.
type notifier struct {
	rdb      redis.UniversalClient
	events   *store.Events
	opts     NotifyOptions
	client   *http.Client
	consumer string
	log      *zap.Logger
	m        notifyMetrics

	// breaker: after breakerAfter failures in a row every partition waits
	// until openUntil (one back-off for the receiver, not one per event).
	mu        sync.Mutex
	failsRow  int
	openUntil time.Time
	// oldest is the age of the oldest undelivered event, for /readyz.
	oldest atomic.Int64

	heldMu sync.Mutex
	held   map[string]struct{} // read, not yet acknowledged (renew)
}

const breakerAfter = 3

type notifyMetrics struct {
	delivered prometheus.Counter
	failures  *prometheus.CounterVec
	oldest    prometheus.Gauge
}

func newNotifier(rdb redis.UniversalClient, queue string, opts NotifyOptions, log *zap.Logger, m notifyMetrics) *notifier {
	opts = opts.withDefaults()
	host, _ := os.Hostname()
	return &notifier{
		rdb: rdb, events: store.NewEvents(rdb, queue), opts: opts, log: log, m: m, held: map[string]struct{}{},
		consumer: fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.N(1<<16)),
		client: &http.Client{
			Timeout:   opts.Timeout,
			Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: opts.Concurrency, ResponseHeaderTimeout: opts.Timeout},
			// A redirect is never followed: the receiver answers 2xx at
			// the URL it was given, or the event is tried again.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// run delivers until ctx ends. Entries in flight at the end stay pending and
// are claimed again (by this worker after a restart, or by another one).
func (n *notifier) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := n.events.EnsureGroup(ctx, NotifyGroup); err != nil {
			n.log.Warn("webhook delivery: cannot create its consumer group; trying again", zap.Error(err))
			sleepCtx(ctx, 5*time.Second)
			continue
		}
		break
	}
	parts := make([]chan store.StreamEvent, n.opts.Concurrency)
	var wg sync.WaitGroup
	for i := range parts {
		parts[i] = make(chan store.StreamEvent, 16) // bounded: the reader waits
		wg.Add(1)
		go func() { defer wg.Done(); n.partition(ctx, parts[i]) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); n.measure(ctx) }()
	go func() { defer wg.Done(); n.renew(ctx) }()
	n.read(ctx, parts)
	for _, p := range parts {
		close(p)
	}
	wg.Wait()
}

// read hands each entry to the partition of its number: first this
// consumer's own pending entries (a restart), then entries idle too long
// with another consumer, then new ones.
func (n *notifier) read(ctx context.Context, parts []chan store.StreamEvent) {
	key := n.events.Key()
	f := fetchState{ownStart: "0"}
	for ctx.Err() == nil {
		msgs, err := n.fetch(ctx, &f)
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() == nil {
				n.log.Warn("webhook delivery: cannot read the events stream; trying again", zap.Error(err))
				if redis.HasErrorPrefix(err, "NOGROUP") {
					n.events.EnsureGroup(ctx, NotifyGroup)
				}
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		for _, m := range msgs {
			se, derr := store.DecodeStreamEvent(m)
			if derr != nil {
				// Not ours to deliver: acknowledged so it does not block.
				n.log.Warn("webhook delivery: skipping an entry that is not an outcome event", zap.String("stream_id", m.ID), zap.Error(derr))
				n.rdb.XAck(ctx, key, NotifyGroup, m.ID)
				continue
			}
			n.hold(se.StreamID)
			select {
			case parts[partitionOf(se.Event.PreStockinNo, len(parts))] <- se:
			case <-ctx.Done():
				return
			}
		}
	}
}

// fetchState is where read stands: this consumer's own pending entries
// still to re-read from ownStart ("" once done), and when to look for
// entries a dead consumer left.
type fetchState struct {
	ownStart string
	claimAt  time.Time
}

// fetch gets the next entries: own pending ones first, then, every
// ClaimIdle/2, those idle too long with another consumer, else new ones.
func (n *notifier) fetch(ctx context.Context, f *fetchState) ([]redis.XMessage, error) {
	key := n.events.Key()
	if f.ownStart != "" {
		msgs, err := n.readGroup(ctx, f.ownStart, 0)
		if len(msgs) == 0 {
			f.ownStart = ""
		} else {
			f.ownStart = "(" + msgs[len(msgs)-1].ID
		}
		return msgs, err
	}
	if time.Now().After(f.claimAt) {
		f.claimAt = time.Now().Add(n.opts.ClaimIdle / 2)
		msgs, _, err := n.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: key, Group: NotifyGroup, Consumer: n.consumer, MinIdle: n.opts.ClaimIdle, Start: "0", Count: 64}).Result()
		return msgs, err
	}
	return n.readGroup(ctx, ">", time.Second)
}

func (n *notifier) readGroup(ctx context.Context, start string, block time.Duration) ([]redis.XMessage, error) {
	s, err := n.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: NotifyGroup, Consumer: n.consumer, Streams: []string{n.events.Key(), start}, Count: 64, Block: block}).Result()
	if err != nil || len(s) == 0 {
		return nil, err
	}
	return s[0].Messages, nil
}

func partitionOf(no string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(no))
	return int(h.Sum32() % uint32(n))
}

// partition delivers its events one after the other, each until 2xx.
func (n *notifier) partition(ctx context.Context, in <-chan store.StreamEvent) {
	for se := range in {
		if ctx.Err() != nil {
			continue // left pending: claimed again later
		}
		if n.deliver(ctx, se) {
			if err := n.rdb.XAck(context.WithoutCancel(ctx), n.events.Key(), NotifyGroup, se.StreamID).Err(); err != nil {
				// Delivered but still pending: it will be delivered again,
				// with the same event ID.
				n.log.Warn("webhook delivery: delivered but not acknowledged in Redis; it will be sent again", zap.String("event_id", se.Event.EventID), zap.Error(err))
			}
			n.release(se.StreamID)
		}
	}
}

// deliver POSTs one event until the receiver answers 2xx or ctx ends,
// renewing the entry's claim between tries so no other worker takes it.
func (n *notifier) deliver(ctx context.Context, se store.StreamEvent) bool {
	for try := 0; ; try++ {
		if !n.waitBreaker(ctx) {
			return false
		}
		reason, err := n.post(ctx, se)
		if err == nil {
			n.m.delivered.Inc()
			n.result(true)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		n.m.failures.WithLabelValues(reason).Inc()
		n.result(false)
		delay := backoffDelay(try, n.opts.MaxBackoff)
		n.log.Warn("webhook delivery failed; trying again", zap.String("event_id", se.Event.EventID),
			zap.String("pre_stockin_no", se.Event.PreStockinNo), zap.String("reason", reason), zap.Error(err), zap.Duration("retry_in", delay))
		if !sleepCtx(ctx, delay) {
			return false
		}
	}
}

// hold and release track the entries this consumer has read and not yet
// acknowledged (queued in a partition or being delivered); renew keeps
// them all claimed, so no other worker takes an entry that only waits its
// turn here.
func (n *notifier) hold(id string) {
	n.heldMu.Lock()
	n.held[id] = struct{}{}
	n.heldMu.Unlock()
}

func (n *notifier) release(id string) {
	n.heldMu.Lock()
	delete(n.held, id)
	n.heldMu.Unlock()
}

func (n *notifier) renew(ctx context.Context) {
	for sleepCtx(ctx, n.opts.ClaimIdle/3) {
		n.heldMu.Lock()
		ids := make([]string, 0, len(n.held))
		for id := range n.held {
			ids = append(ids, id)
		}
		n.heldMu.Unlock()
		if len(ids) > 0 {
			// Resets each entry's idle time with this consumer.
			n.rdb.XClaimJustID(ctx, &redis.XClaimArgs{Stream: n.events.Key(), Group: NotifyGroup, Consumer: n.consumer, MinIdle: 0, Messages: ids})
		}
	}
}

// post sends one try; a non-nil error comes with a short reason label.
func (n *notifier) post(ctx context.Context, se store.StreamEvent) (string, error) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.opts.URL, bytes.NewReader(se.Raw))
	if err != nil {
		return "config", fmt.Errorf("build the webhook request: check --notify-url: %w", redactURLError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wdtcancel-webhook/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderEventID, se.Event.EventID)
	req.Header.Set(HeaderSignature, SignWebhook(n.opts.Secret, ts, se.Raw))
	resp, err := n.client.Do(req)
	if err != nil {
		return "network", redactURLError(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return "", nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return "redirect", fmt.Errorf("receiver answered %s (redirects are not followed: set --notify-url to the final address)", resp.Status)
	}
	return "status", fmt.Errorf("receiver answered %s", resp.Status)
}

// redactURLError drops the URL from an HTTP client error: it may carry
// credentials in its user info or query.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s to the notify URL: %w", ue.Op, ue.Err)
	}
	return err
}

// result feeds the delivery breaker.
func (n *notifier) result(ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ok {
		n.failsRow, n.openUntil = 0, time.Time{}
		return
	}
	n.failsRow++
	if n.failsRow >= breakerAfter {
		n.openUntil = time.Now().Add(backoffDelay(n.failsRow-breakerAfter, n.opts.MaxBackoff))
	}
}

// waitBreaker waits while the breaker is open; false when ctx ended.
func (n *notifier) waitBreaker(ctx context.Context) bool {
	n.mu.Lock()
	wait := time.Until(n.openUntil)
	n.mu.Unlock()
	return wait <= 0 || sleepCtx(ctx, wait)
}

// backoffDelay is 1 s doubled per try up to max, with ±25 % jitter.
func backoffDelay(try int, maxDelay time.Duration) time.Duration {
	d := time.Second << min(try, 20)
	if d <= 0 || d > maxDelay {
		d = maxDelay
	}
	return d*3/4 + rand.N(d/2+1)
}

// measure updates the oldest-undelivered gauge every few seconds.
func (n *notifier) measure(ctx context.Context) {
	for {
		if b, err := n.events.GroupBacklog(ctx, NotifyGroup, time.Now()); err == nil {
			n.m.oldest.Set(b.Oldest.Seconds())
			n.oldest.Store(int64(b.Oldest))
		}
		if !sleepCtx(ctx, 5*time.Second) {
			return
		}
	}
}

// stuck is the /readyz detail of this lane's delivery, "" when the oldest
// undelivered event is younger than stuckAfter.
func (n *notifier) stuck() string {
	if d := time.Duration(n.oldest.Load()); d > stuckAfter {
		return fmt.Sprintf("webhook delivery is behind: the oldest undelivered event is %s old; check the receiver (wdtcancel_event_delivery_failures_total, `wdtcancel events ls`)", d.Round(time.Second))
	}
	return ""
}

// stuckAfter is when /readyz starts naming a delivery backlog.
const stuckAfter = 5 * time.Minute

// sleepCtx waits d or until ctx ends; false when ctx ended.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
