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
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// peerHandler is the fair peer of wdtcancel's handler: what a developer
// would hand-roll with asynq alone. It decodes the payload, signs and POSTs
// the cancel to the sandbox, and fails unless the answer is status 0. No
// limiter, breaker, outcome memory, metrics or log line. With withResult it
// also writes a task result (one HSET), to measure what that costs.
func peerHandler(endpoint string, creds wdt.Credentials, hc *http.Client, withResult bool) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		var p struct {
			No string `json:"pre_stockin_no"`
		}
		if err := json.Unmarshal(t.Payload(), &p); err != nil {
			return err
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
		if withResult {
			if _, err := t.ResultWriter().Write([]byte(`{"category":"cancelled","calls":1}`)); err != nil {
				return err
			}
		}
		return nil
	}
}
