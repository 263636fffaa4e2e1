package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/pause"
	"github.com/wdtcancel/wdtcancel/internal/redisserver"
	"github.com/wdtcancel/wdtcancel/internal/redisurl"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// QuotaOptions configure the quota check (`wdtcancel bench --quota`).
type QuotaOptions struct {
	RedisURL  string        // "" = start a redis-server
	Rates     []int         // the sandbox's quota, which is also the workers' --rate-per-minute
	Processes []int         // worker processes sharing each quota
	Duration  time.Duration // measured from each combination's first call
	// Concurrency of each worker process.
	Concurrency int
	// Cooldown is the workers' --cooldown; no call may arrive within it
	// after a rate-limit answer.
	Cooldown      time.Duration
	WorkerCommand func(args, env []string) *exec.Cmd
	Out           io.Writer
}

// QuotaDefaults are the figures docs/performance.md reports: rates with a whole and
// with fractional intervals (60.5 s / 599, / 301, ...), 2 and 4 processes,
// three minutes, every combination at once.
var QuotaDefaults = QuotaOptions{Rates: []int{600, 599, 240, 301}, Processes: []int{2, 4}, Duration: 3 * time.Minute,
	Concurrency: 4, Cooldown: 60 * time.Second}

// QuotaResult is what `wdtcancel bench --quota --json` prints.
type QuotaResult struct {
	// Pass: every combination used at least 99% of its quota with no
	// rate-limit answer and no call inside a cooldown.
	Pass     bool        `json:"pass"`
	Rows     []QuotaRow  `json:"combinations"`
	Duration JSONSeconds `json:"window_seconds"`
	Machine  Machine     `json:"machine"`
	KeysLeft int         `json:"keys_left_behind"`
	Took     JSONSeconds `json:"took_seconds"`
}

// QuotaRow is one combination of quota and worker processes.
type QuotaRow struct {
	Processes int `json:"processes"`
	Quota     int `json:"quota_per_minute"`
	// Calls the sandbox accepted within the window, and that per minute.
	Calls     int     `json:"calls"`
	PerMinute float64 `json:"calls_per_minute"`
	Used      float64 `json:"quota_used"` // PerMinute / Quota
	// RateLimitAnswers over the whole run; CallsInCooldown arrived more
	// than cooldownGrace after a rate-limit answer and before its
	// cooldown ended.
	RateLimitAnswers int `json:"rate_limit_answers"`
	// RateLimitAt: when each came, in seconds after the first call.
	RateLimitAt     []float64 `json:"rate_limit_answers_at_seconds,omitempty"`
	CallsInCooldown int       `json:"calls_in_cooldown"`
	Pass            bool      `json:"pass"`
}

// cooldownGrace excuses calls already on the wire when the rate-limit
// answer left the sandbox.
const cooldownGrace = 250 * time.Millisecond

// defaults fills in QuotaDefaults for every setting left at zero or below.
func (o *QuotaOptions) defaults() {
	d := QuotaDefaults
	if len(o.Rates) == 0 {
		o.Rates = d.Rates
	}
	if len(o.Processes) == 0 {
		o.Processes = d.Processes
	}
	o.Duration = positiveOr(o.Duration, d.Duration)
	o.Concurrency = positiveOr(o.Concurrency, d.Concurrency)
	o.Cooldown = positiveOr(o.Cooldown, d.Cooldown)
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// RunQuota runs every combination of Rates and Processes at once, each on
// its own queue and sandbox (quota = rate), for Duration after its first
// call, and checks the quota was used and never exceeded.
func RunQuota(ctx context.Context, o QuotaOptions) (*QuotaResult, error) {
	o.defaults()
	if o.WorkerCommand == nil {
		return nil, fmt.Errorf("quota: no worker command")
	}
	start := time.Now()
	r := &runner{o: Options{Out: o.Out}, res: &Result{}, prefix: fmt.Sprintf("wdtcancel-bench-%d", time.Now().UnixNano()%1e6)}
	r.url = o.RedisURL
	res := &QuotaResult{Duration: JSONSeconds(o.Duration), Pass: true}
	r.res.Machine.RedisKind = "given"
	if r.url == "" {
		red, err := redisserver.Start(redisserver.Options{ForbidFallback: true})
		if err != nil {
			return nil, err
		}
		defer red.Close()
		r.url = red.URL()
		r.res.Machine.RedisKind = "redis-server started by bench"
	}
	var err error
	if r.conn, err = redisurl.Parse(r.url); err != nil {
		return nil, fmt.Errorf("bench redis: %w", err)
	}
	r.rdb = r.conn.MakeRedisClient().(redis.UniversalClient)
	defer r.rdb.Close()
	defer r.cleanup()
	r.machine(ctx)
	r.res.Machine.LoadStart = loadavg()

	if err := r.quotaAll(ctx, o, res); err != nil {
		return nil, err
	}
	sort.Slice(res.Rows, func(i, j int) bool {
		a, b := res.Rows[i], res.Rows[j]
		return a.Processes < b.Processes || a.Processes == b.Processes && a.Quota > b.Quota
	})
	r.cleanup()
	res.KeysLeft = r.leftBehind(ctx)
	r.res.Machine.LoadEnd = loadavg()
	res.Machine = r.res.Machine
	res.Took = JSONSeconds(time.Since(start))
	return res, nil
}

// quotaAll runs every combination at once and adds its row to res as it
// ends; the first error wins.
func (r *runner) quotaAll(ctx context.Context, o QuotaOptions, res *QuotaResult) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, procs := range o.Processes {
		for _, rate := range o.Rates {
			q := r.queue(fmt.Sprintf("quota-%d-%d", procs, rate))
			wg.Add(1)
			go func() {
				defer wg.Done()
				row, err := r.quotaRun(ctx, o, q, procs, rate)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("%d processes at %d/min: %w", procs, rate, err)
				}
				if row != nil {
					res.Rows = append(res.Rows, *row)
					res.Pass = res.Pass && row.Pass
					fmt.Fprintf(o.Out, "bench: %d processes, quota %d/min: %d calls in %s = %.1f/min (%.2f%%), %d rate-limit answers, %d calls in a cooldown\n",
						procs, rate, row.Calls, o.Duration, row.PerMinute, 100*row.Used, row.RateLimitAnswers, row.CallsInCooldown)
				}
			}()
		}
	}
	wg.Wait()
	return firstErr
}

// quotaRun is one combination: a sandbox with the quota, enough tasks for
// the window, procs worker processes at the same rate.
func (r *runner) quotaRun(ctx context.Context, o QuotaOptions, q string, procs, rate int) (*QuotaRow, error) {
	apiURL, rec, stopSandbox, err := quotaSandbox(rate)
	if err != nil {
		return nil, err
	}
	defer stopSandbox()

	n := int(float64(rate)*o.Duration.Minutes()*1.05) + 50
	if err := r.fill(ctx, q, "Q", n); err != nil {
		return nil, err
	}
	env := []string{"REDIS_URL=" + r.url, "WDT_URL=" + apiURL,
		"WDT_SID=sandbox", "WDT_APPKEY=sandbox", "WDT_APPSECRET=sandbox:sandbox"}
	stop, err := startQuotaWorkers(o, q, procs, rate, env)
	defer stop()
	if err != nil {
		return nil, err
	}
	t0, err := firstCall(ctx, rec)
	if err != nil {
		return nil, err
	}
	if err := pause.For(ctx, time.Until(t0.Add(o.Duration))); err != nil {
		return nil, err
	}
	accepted, limited := rec.snapshot()
	return scoreQuota(procs, rate, t0, o.Duration, o.Cooldown, accepted, limited), nil
}

// startQuotaWorkers starts procs worker processes at rate on queue q; stop
// sends each one started SIGTERM and waits for it, also after an error.
func startQuotaWorkers(o QuotaOptions, q string, procs, rate int, env []string) (stop func(), err error) {
	var cmds []*exec.Cmd
	stop = func() {
		var wg sync.WaitGroup
		for _, c := range cmds {
			c.Process.Signal(syscall.SIGTERM)
			wg.Add(1)
			go func() { defer wg.Done(); c.Wait() }()
		}
		wg.Wait()
	}
	for i := 0; i < procs; i++ {
		cmd := o.WorkerCommand([]string{"--queue", q, "--listen", "", "--concurrency", strconv.Itoa(o.Concurrency),
			"--rate-per-minute", strconv.Itoa(rate), "--cooldown", o.Cooldown.String(), "--log-level", "warn"}, env)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			return stop, err
		}
		cmds = append(cmds, cmd)
	}
	return stop, nil
}

// firstCall waits until the sandbox received its first call, at most a
// minute, and returns when it came.
func firstCall(ctx context.Context, rec *callRecorder) (time.Time, error) {
	deadline := time.Now().Add(time.Minute)
	for rec.first().IsZero() {
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("no call within a minute")
		}
		if err := pause.For(ctx, 50*time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
	return rec.first(), nil
}

// scoreQuota judges one combination from the calls the sandbox accepted
// and the rate-limit answers it gave: calls within the window from t0,
// calls (of either kind) that arrived inside a cooldown, and whether at
// least 99% of the quota was used with neither kind of fault.
func scoreQuota(procs, rate int, t0 time.Time, window, cooldown time.Duration, accepted, limited []time.Time) *QuotaRow {
	row := &QuotaRow{Processes: procs, Quota: rate, RateLimitAnswers: len(limited)}
	for _, t := range accepted {
		if !t.Before(t0) && t.Before(t0.Add(window)) {
			row.Calls++
		}
	}
	all := append(append([]time.Time(nil), accepted...), limited...)
	for _, l := range limited {
		row.RateLimitAt = append(row.RateLimitAt, round(l.Sub(t0).Seconds()))
		for _, t := range all {
			if t.After(l.Add(cooldownGrace)) && t.Before(l.Add(cooldown)) {
				row.CallsInCooldown++
			}
		}
	}
	row.PerMinute = round(float64(row.Calls) / window.Minutes())
	row.Used = float64(int64(row.PerMinute/float64(rate)*10000+0.5)) / 10000
	row.Pass = row.Used >= 0.99 && row.RateLimitAnswers == 0 && row.CallsInCooldown == 0
	return row
}

// callRecorder serves the sandbox and records when each API call arrived,
// split into accepted calls and rate-limit answers (status 100 is the only
// refusal of a sandbox with a quota and no faults).
type callRecorder struct {
	h                 http.Handler
	mu                sync.Mutex
	accepted, limited []time.Time
}

func (c *callRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	tw := &teeWriter{ResponseWriter: w}
	c.h.ServeHTTP(tw, req)
	if req.URL.Path != "/openapi" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Contains(tw.head, []byte(`"status":100`)) {
		c.limited = append(c.limited, at)
	} else {
		c.accepted = append(c.accepted, at)
	}
}

func (c *callRecorder) first() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.accepted) == 0 {
		return time.Time{}
	}
	return c.accepted[0]
}

func (c *callRecorder) snapshot() (accepted, limited []time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.accepted...), append([]time.Time(nil), c.limited...)
}

// teeWriter keeps the first bytes of an answer.
type teeWriter struct {
	http.ResponseWriter
	head []byte
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if len(t.head) < 256 {
		t.head = append(t.head, b[:min(len(b), 256-len(t.head))]...)
	}
	return t.ResponseWriter.Write(b)
}

// quotaSandbox serves an in-process sandbox whose quota is rate through a
// callRecorder, on a loopback port: the WDT of every at-quota measure. It
// returns the API URL, the recorder and what stops the server.
func quotaSandbox(rate int) (apiURL string, rec *callRecorder, stop func(), err error) {
	sb, err := sandbox.New(sandbox.Options{RatePerMinute: rate})
	if err != nil {
		return "", nil, nil, err
	}
	rec = &callRecorder{h: sb}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	srv := &http.Server{Handler: rec}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/openapi", rec, func() { srv.Close() }, nil
}
