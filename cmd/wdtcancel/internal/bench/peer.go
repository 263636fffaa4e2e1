package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// peerMode says what the hand-rolled peer does besides the call.
type peerMode int

const (
	// peerPlain: decode, sign, POST, check status 0. Nothing else.
	peerPlain peerMode = iota
	// peerResult: plain, then a task result write (one HSET).
	peerResult
	// peerSafe: the least a handler must do to keep wdtcancel's two crash
	// guarantees: a "sent" mark in Redis before the POST (one SET ... GET,
	// so a rerun knows an earlier attempt may have been applied: never a
	// cancelled order filed as a clean rejection) and a result write after
	// it (so a rerun of a success finishes done, not dead as ambiguous).
	// It keeps no limiter, breaker, metrics or log line: it is the floor
	// such a handler pays in Redis round trips.
	peerSafe
)

// peerHandler is the fair peer of wdtcancel's handler: what a developer
// would hand-roll with asynq alone. It decodes the payload, signs and POSTs
// the cancel to the sandbox, and fails unless the answer is status 0. No
// limiter, breaker, outcome memory, metrics or log line. mode adds a result
// write, or the sent mark and the result write (see peerMode), to measure
// what those cost.
func peerHandler(endpoint string, creds wdt.Credentials, hc *http.Client, rdb redis.UniversalClient, mode peerMode) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		var p struct {
			No string `json:"pre_stockin_no"`
		}
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return err
		}
		if mode == peerSafe {
			// The same command wdtcancel uses for its mark: SET ... GET, so
			// the answer says whether an earlier attempt left one.
			// Its key is wdtcancel's own sent key for the queue, so the bench's
			// clean-up of the queue deletes it.
			q, _ := asynq.GetQueueName(ctx)
			err := rdb.SetArgs(ctx, store.SentKey(q, p.No), "1", redis.SetArgs{Get: true, TTL: time.Hour}).Err()
			if err != nil && err != redis.Nil {
				return err
			}
		}
		body, _ := json.Marshal([]string{p.No})
		params := []wdt.Param{
			{Name: "body", Value: string(body)}, {Name: "key", Value: creds.AppKey},
			{Name: "method", Value: wdt.MethodCancelPreStockin}, {Name: "salt", Value: creds.Salt},
			{Name: "sid", Value: creds.SID}, {Name: "timestamp", Value: strconv.FormatInt(wdt.Timestamp(time.Now()), 10)},
			{Name: "v", Value: wdt.APIVersion},
		}
		sign := wdt.Sign(creds.Secret, params)
		var q strings.Builder
		for _, pr := range params[1:] {
			q.WriteString(pr.Name + "=" + url.QueryEscape(pr.Value) + "&")
		}
		q.WriteString("sign=" + sign)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"?"+q.String(), bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if err != nil {
			return err
		}
		var a struct {
			Status  int    `json:"status"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		if a.Status != 0 {
			return fmt.Errorf("status %d: %s", a.Status, a.Message)
		}
		if mode != peerPlain {
			if _, err := t.ResultWriter().Write([]byte(`{"category":"cancelled","calls":1}`)); err != nil {
				return err
			}
		}
		return nil
	}
}

var (
	peerHTTPOnce sync.Once
	peerHTTPC    *http.Client
)

// peerHTTP is the peers' HTTP client: one keep-alive pool, as a
// hand-rolled handler would have (wdtcancel's default opens a fresh
// connection per call; --reuse-connections shows what that costs).
func peerHTTP() *http.Client {
	peerHTTPOnce.Do(func() { peerHTTPC = wdt.NewKeepAliveHTTPClient() })
	return peerHTTPC
}
