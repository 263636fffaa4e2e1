package bench

import (
	"context"
	"fmt"
	"strings"
)

// scaling: 1, 2, 4 worker processes on one Redis, direct and through a
// proxy that adds about 2 ms of round trip. Also the resources of the
// one-process run.
func (r *runner) scaling(ctx context.Context) error {
	if r.o.WorkerCommand == nil {
		r.res.Notes = append(r.res.Notes, "scaling and worker resources skipped: no worker command")
		return nil
	}
	red := strings.TrimPrefix(r.url, "redis://")
	hostport, _, _ := strings.Cut(red, "/")
	if strings.Contains(hostport, "@") {
		r.res.Notes = append(r.res.Notes, "scaling over the proxy skipped: Redis URL has a password")
	}
	proxy, err := startDelayProxy(hostport, r.o.ProxyDelay)
	if err != nil {
		return err
	}
	defer proxy.Close()
	var one [2]float64
	for pi, viaProxy := range []bool{false, true} {
		for _, procs := range r.o.Processes {
			url := r.url
			rtt := "0"
			if viaProxy {
				url = "redis://" + proxy.Addr() + "/0"
				rtt = (2 * r.o.ProxyDelay).String()
			}
			perSec, res, err := r.scaleRun(ctx, procs, url)
			if err != nil {
				return err
			}
			if procs == r.o.Processes[0] {
				one[pi] = perSec
				if !viaProxy && res != nil {
					r.res.Resources = res
				}
			}
			r.res.Scaling = append(r.res.Scaling, ScaleRow{Processes: procs, ProxyRTT: rtt, PerSec: round(perSec), Ratio: round(perSec / one[pi])})
			fmt.Fprintf(r.o.Out, "bench:   %d process(es), extra Redis RTT %s: %.0f tasks/s\n", procs, rtt, perSec)
		}
	}
	return nil
}

func (r *runner) scaleRun(ctx context.Context, procs int, redisURL string) (float64, *Resources, error) {
	return r.oneQueueRun(ctx, fmt.Sprintf("scale-%d-%d", procs, len(r.queues)), "SC", r.o.ScalingTasks, procs, redisURL, procs == 1)
}
