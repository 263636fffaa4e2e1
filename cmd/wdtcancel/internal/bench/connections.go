package bench

import (
	"context"
	"fmt"
)

// ConnectionsRes is what a fresh connection per call costs wdtcancel's
// worker: the same pipeline with its default client (a new connection for
// every call, closed after the answer) and with --reuse-connections
// (kept-alive connections), in alternating rounds on the same Redis and an
// in-process sandbox on loopback.
type ConnectionsRes struct {
	Tasks       int `json:"tasks"`
	Concurrency int `json:"concurrency"`
	Rounds      int `json:"rounds"`
	// Medians over the rounds, and every round.
	FreshPerSec       float64   `json:"fresh_tasks_per_sec"`
	ReusePerSec       float64   `json:"reuse_tasks_per_sec"`
	FreshPerSecRounds []float64 `json:"fresh_per_round"`
	ReusePerSecRounds []float64 `json:"reuse_per_round"`
	// fresh / reuse, median of per-round ratios with min and max.
	Ratio    float64 `json:"fresh_connection_ratio"`
	RatioMin float64 `json:"fresh_connection_ratio_min"`
	RatioMax float64 `json:"fresh_connection_ratio_max"`
}

// connections runs wdtcancel with fresh connections and with reused ones
// in alternating rounds (the order flips each round; round 0 is a warm-up
// and is discarded), as the processing phase does.
func (r *runner) connections(ctx context.Context) error {
	n, c := r.o.Tasks, r.o.Concurrency
	res := &ConnectionsRes{Tasks: n, Concurrency: c, Rounds: r.o.Rounds}
	kinds := []string{"wdtcancel", "wdtcancel_reuse"}
	var ratios []float64
	for round := 0; round <= r.o.Rounds; round++ {
		order := kinds
		if round%2 == 1 {
			order = []string{kinds[1], kinds[0]}
		}
		got := map[string]float64{}
		for _, k := range order {
			v, err := r.variant(ctx, k, round, n, c)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			got[k] = v
		}
		fmt.Fprintf(r.o.Out, "bench:   round %d%s: wdtcancel fresh connections %.0f/s, reusing connections %.0f/s\n", round,
			map[bool]string{true: " (warm-up, discarded)"}[round == 0], got["wdtcancel"], got["wdtcancel_reuse"])
		if round == 0 {
			continue
		}
		res.FreshPerSecRounds = append(res.FreshPerSecRounds, round2(got["wdtcancel"]))
		res.ReusePerSecRounds = append(res.ReusePerSecRounds, round2(got["wdtcancel_reuse"]))
		ratios = append(ratios, got["wdtcancel"]/got["wdtcancel_reuse"])
	}
	res.FreshPerSec, res.ReusePerSec = round(median(res.FreshPerSecRounds)), round(median(res.ReusePerSecRounds))
	res.Ratio, res.RatioMin, res.RatioMax = spread(ratios)
	r.res.Connections = res
	return nil
}
