package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// EventsRes is phase events: what outcome events cost the cancellation
// path (the worker's rate with webhook delivery on vs off, the events
// stream being written in both) and how fast they reach a local receiver.
type EventsRes struct {
	Tasks       int       `json:"tasks"`
	Concurrency int       `json:"concurrency"`
	Rounds      int       `json:"rounds"`
	OffPerSec   []float64 `json:"off_per_sec"`
	OnPerSec    []float64 `json:"on_per_sec"`
	// OnOffRatio is on/off, median of rounds, with min and max.
	OnOffRatio    float64 `json:"on_off_ratio"`
	OnOffRatioMin float64 `json:"on_off_ratio_min"`
	OnOffRatioMax float64 `json:"on_off_ratio_max"`
	// DeliveredPerSec is events/s from the first to the last 2xx at a
	// local receiver that stores nothing, per round.
	DeliveredPerSec []float64 `json:"delivered_per_sec"`
}

// eventsPhase alternates the two variants round by round on fresh queues;
// round 0 is a warm-up and is discarded.
func (r *runner) eventsPhase(ctx context.Context) error {
	n, c := r.o.Tasks, r.o.Concurrency
	res := &EventsRes{Tasks: n, Concurrency: c, Rounds: r.o.Rounds}
	r.res.Events = res
	var ratios []float64
	for round := 0; round <= r.o.Rounds; round++ {
		got := map[bool]float64{}
		var delivered float64
		for _, on := range []bool{round%2 == 0, round%2 != 0} {
			q := r.queue(fmt.Sprintf("events-%v-%d", on, round))
			if err := r.fill(ctx, q, "E", n); err != nil {
				r.drop(q)
				return err
			}
			rate, drate, err := r.eventsVariant(ctx, q, n, c, on)
			r.drop(q)
			if err != nil {
				return err
			}
			got[on] = rate
			if on {
				delivered = drate
			}
		}
		fmt.Fprintf(r.o.Out, "bench:   round %d%s: notifications off %.0f/s, on %.0f/s, delivered %.0f events/s\n", round,
			map[bool]string{true: " (warm-up, discarded)"}[round == 0], got[false], got[true], delivered)
		if round == 0 {
			continue
		}
		res.OffPerSec = append(res.OffPerSec, round2(got[false]))
		res.OnPerSec = append(res.OnPerSec, round2(got[true]))
		res.DeliveredPerSec = append(res.DeliveredPerSec, round2(delivered))
		ratios = append(ratios, got[true]/got[false])
	}
	res.OnOffRatio, res.OnOffRatioMin, res.OnOffRatioMax = spread(ratios)
	return nil
}

// eventsVariant runs the n tasks of q through a worker, with webhook
// delivery to a local receiver when on, and returns the processing rate
// and (when on) the delivery rate, once every event was delivered.
func (r *runner) eventsVariant(ctx context.Context, q string, n, c int, on bool) (float64, float64, error) {
	var calls, posts span
	calls.init(n)
	posts.init(n)
	sb, err := sandbox.NewServer(sandbox.Options{OnCall: func(string) { calls.tick() }})
	if err != nil {
		return 0, 0, err
	}
	defer sb.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	rcv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		posts.tick()
		w.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 10 * time.Second}
	go rcv.Serve(ln)
	defer rcv.Close()
	client, err := wdt.New(sb.APIURL(), sb.Credentials())
	if err != nil {
		return 0, 0, err
	}
	cfg := worker.Config{Redis: r.conn, Sellers: worker.SingleSeller(client, 0, 0), Queue: q, Concurrency: c, Logger: benchLogger(), AllowVolatileRedis: true}
	if on {
		cfg.Notify = worker.NotifyOptions{URL: "http://" + ln.Addr().String() + "/events", Secret: []byte("bench-secret")}
	}
	w, err := worker.New(cfg)
	if err != nil {
		return 0, 0, err
	}
	if err := w.Start(ctx); err != nil {
		w.Close()
		return 0, 0, err
	}
	defer w.Shutdown()
	if err := wait(ctx, calls.done, 10*time.Minute); err != nil {
		return 0, 0, err
	}
	if !on {
		return calls.rate(), 0, nil
	}
	if err := wait(ctx, posts.done, 10*time.Minute); err != nil {
		return 0, 0, fmt.Errorf("events not all delivered: %w", err)
	}
	return calls.rate(), posts.rate(), nil
}
