package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wdtcancel/wdtcancel/cmd/wdtcancel/internal/bench"
)

func newBenchCmd() *cobra.Command {
	o := bench.Defaults
	qo := bench.QuotaDefaults
	var asJSON, quota bool
	var child bench.ChildOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure wdtcancel side by side with raw asynq on one Redis: processing, enqueue, pickup, scaling, resources",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if child.Kind != "" {
				return runBenchChild(cmd, child, o.Concurrency)
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			o.Command = func(args, env []string) *exec.Cmd {
				c := exec.Command(self, args...)
				c.Env = benchWorkerEnv(os.Environ(), env) // benchenv.go
				return c
			}
			o.WorkerCommand = func(args, env []string) *exec.Cmd {
				return o.Command(append([]string{"worker"}, args...), env)
			}
			o.EnqueueCLI = func(ctx context.Context, redisURL, queue, file string) error {
				root := newRoot()
				root.SetArgs([]string{"enqueue", "--redis-url", redisURL, "--queue", queue, "--allow-unknown-seller", "--file", file, "--json"})
				root.SetOut(io.Discard)
				root.SetErr(io.Discard)
				return root.ExecuteContext(ctx)
			}
			o.Out = cmd.ErrOrStderr()
			if quota {
				qo.RedisURL, qo.WorkerCommand, qo.Out = o.RedisURL, o.WorkerCommand, o.Out
				res, err := bench.RunQuota(cmd.Context(), qo)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					if err := enc.Encode(res); err != nil {
						return err
					}
				} else {
					printQuota(cmd.OutOrStdout(), res)
				}
				if !res.Pass {
					return errors.New("quota check failed")
				}
				return nil
			}
			res, err := bench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			printBench(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.RedisURL, "redis-url", "", "Redis to measure on (default: start a redis-server from PATH); bench queues are deleted afterwards")
	f.StringSliceVar(&o.RedisCluster, "redis-cluster", nil, "measure on this Redis Cluster (node addresses host:port,..., as the worker's --redis-cluster) instead of --redis-url; phase quota with --at-quota-sellers only")
	f.IntVar(&o.Tasks, "tasks", o.Tasks, "phase processing: the least backlog each variant's queue starts with (backlogs are sized on the variant's rate to outlast --round-time); phases connections and memory: tasks per variant and round")
	f.IntVar(&o.Rounds, "rounds", o.Rounds, "processing rounds measured (alternating order), after one warm-up round that is discarded")
	f.DurationVar(&o.RoundTime, "round-time", o.RoundTime, "phase processing: each variant's measured window lasts at least this long, its queue never empty (at least 3s)")
	f.BoolVar(&o.ShortRounds, "test-short-rounds", false, "let --round-time go below 3s; for the bench's own tests, the figures mean nothing")
	f.StringVar(&child.Kind, "child", "", "internal: run one of the processing phase's reference handlers (noop, peer, peer_result, peer_safe) in this process; the bench starts these itself")
	f.StringVar(&child.Queue, "child-queue", "", "internal: the queue a --child serves")
	for _, name := range []string{"test-short-rounds", "child", "child-queue"} {
		f.MarkHidden(name)
	}
	f.StringSliceVar(&o.Phases, "phases", nil, "phases to run: processing, enqueue, pickup, scaling, memory, sellers, connections, quota, events, idle (default all)")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "worker concurrency in every phase")
	f.IntVar(&o.EnqueueTasks, "enqueue-tasks", o.EnqueueTasks, "tasks in the one-by-one vs CancelMany comparison")
	f.IntVar(&o.CLITasks, "cli-tasks", o.CLITasks, "numbers in the file the CLI reads (-1 skips)")
	f.IntVar(&o.PickupSamples, "pickup-samples", o.PickupSamples, "idle pickup samples")
	f.IntSliceVar(&o.Processes, "processes", o.Processes, "worker process counts in the scaling phase")
	f.IntVar(&o.ScalingTasks, "scaling-tasks", o.ScalingTasks, "tasks per scaling run")
	f.IntVar(&o.SellerCount, "sellers", o.SellerCount, "sellers in the multi-seller figure, each its own sandbox and queue")
	f.IntVar(&o.SellerOrders, "seller-orders", o.SellerOrders, "orders per seller in the multi-seller figure (one seller with the total is the comparison)")
	f.IntVar(&o.SellerProcesses, "seller-processes", o.SellerProcesses, "worker processes in the multi-seller figure")
	f.DurationVar(&o.ProxyDelay, "proxy-delay", o.ProxyDelay, "delay each way of the proxy that makes Redis look remote")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the wdtcancel worker process of the processing phase's last round here, for its whole run, and (phase quota) one of the first worker process of each configuration, for its whole run, to FILE.quota-<processes>x<rate> (with --at-quota-sellers: FILE.quota-<processes>x<sellers>x<rate>; idle: FILE.quota-idle-<processes>)")
	f.IntVar(&o.GroupCommitMax, "group-commit-max", 0, "phases processing and pickup: the worker's --group-commit-max (0: its default)")
	f.DurationVar(&o.GroupCommitLinger, "group-commit-linger", 0, "phases processing and pickup: the worker's --group-commit-linger")
	f.BoolVar(&o.ReuseConnections, "reuse-connections", false, "wdtcancel's client reuses kept-alive connections instead of a fresh one per call (compare two runs to see what fresh connections cost)")
	f.IntSliceVar(&o.QuotaProcesses, "at-quota-processes", o.QuotaProcesses, "phase quota: worker processes sharing each rate")
	f.IntSliceVar(&o.QuotaRates, "at-quota-rates", o.QuotaRates, "phase quota: rates per minute (the sandbox's quota and the workers' --rate-per-minute)")
	f.DurationVar(&o.QuotaRound, "at-quota-round", o.QuotaRound, "phase quota: measured window of each configuration (at least 3s, and at least 50 calls)")
	f.IntVar(&o.QuotaBacklog, "at-quota-backlog", o.QuotaBacklog, "phase quota: tasks queued before each configuration starts")
	f.IntSliceVar(&o.QuotaSellers, "at-quota-sellers", nil, "phase quota: instead of one seller, these numbers of sellers on the same workers (a sellers file), each with its own sandbox quota = --at-quota-rates and a backlog of --at-quota-backlog tasks; prints the spread over sellers")
	f.IntSliceVar(&o.IdleSellers, "idle-sellers", o.IdleSellers, "phase idle: numbers of sellers of the one worker process measured with empty queues (window --at-quota-round)")
	f.IntVar(&o.IdleSamples, "idle-samples", o.IdleSamples, "phase idle: tasks for sellers idle since the start, timed to their call")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.BoolVar(&quota, "quota", false, "instead of the phases: check --rate-per-minute against a sandbox with that quota, every combination of --quota-rates and --quota-processes at once; fails unless each used >= 99% of its quota with no rate-limit answer")
	f.IntSliceVar(&qo.Rates, "quota-rates", qo.Rates, "quotas per minute to check (also the workers' --rate-per-minute)")
	f.IntSliceVar(&qo.Processes, "quota-processes", qo.Processes, "worker processes sharing each quota")
	f.DurationVar(&qo.Duration, "quota-duration", qo.Duration, "window measured from each combination's first call")
	f.IntVar(&qo.Concurrency, "quota-concurrency", qo.Concurrency, "--concurrency of each worker process in the quota check")
	return cmd
}

// runBenchChild is `wdtcancel bench --child KIND`: one of the processing
// phase's reference handlers in a process of its own, until SIGTERM. Its
// Redis and sandbox come in REDIS_URL and WDT_URL, set by the bench (no
// password on a command line).
func runBenchChild(cmd *cobra.Command, o bench.ChildOptions, concurrency int) error {
	o.Concurrency, o.RedisURL, o.WDTURL = concurrency, os.Getenv("REDIS_URL"), os.Getenv("WDT_URL")
	if err := bench.RunChild(cmd.Context(), o); err != nil {
		return usageErr(err)
	}
	return nil
}

func printQuota(w io.Writer, r *bench.QuotaResult) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs (%s), %s, Redis %s (%s), load %s at start, %s at end, took %.0fs\n\n", m.CPUs, m.CPUModel, m.GoVersion, m.RedisVersion, m.RedisKind, m.LoadStart, m.LoadEnd, time.Duration(r.Took).Seconds())
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "processes\tquota/min\tcalls in %s\tcalls/min\tquota used\trate-limit answers\tcalls in a cooldown\t\n", time.Duration(r.Duration))
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%.2f%%\t%d\t%d\t%s\n", row.Processes, row.Quota, row.Calls, row.PerMinute, 100*row.Used, row.RateLimitAnswers, row.CallsInCooldown, map[bool]string{true: "ok", false: "FAIL"}[row.Pass])
	}
	tw.Flush()
	fmt.Fprintf(w, "keys of the bench's queues left in Redis: %d\n", r.KeysLeft)
}

func printBench(w io.Writer, r *bench.Result) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs (%s), %s, Redis %s (%s), took %.0fs\n\n", m.CPUs, m.CPUModel, m.GoVersion, m.RedisVersion, m.RedisKind, time.Duration(r.Took).Seconds())
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	p := r.Processing
	if m.LoadStart != "" {
		fmt.Fprintf(w, "load average: %s at start, %s at end\n\n", m.LoadStart, m.LoadEnd)
	}
	if p.Rounds > 0 && p.RealMedianPerSec > 0 {
		fmt.Fprintf(tw, "processing (each in its own process; windows >= %gs, measured %.2f-%.2f s; concurrency %d, median of %d rounds after %d warm-up)\tno-op asynq %.0f/s\thand-rolled peer %.0f/s\twdtcancel %.0f/s\t\n",
			p.RoundSeconds, p.WindowSecondsMin, p.WindowSecondsMax, p.Concurrency, p.Rounds, p.WarmupRounds, p.BaselinePerSec, p.PeerMedianPerSec, p.RealMedianPerSec)
		fmt.Fprintf(tw, "  peer ratio (wdtcancel / peer)\t%.2f (min %.2f, max %.2f)\ttarget >= 0.85\t\n", r.PeerRatio, r.PeerRatioMin, r.PeerRatioMax)
		fmt.Fprintf(tw, "  processing ratio (wdtcancel / no-op)\t%.2f (min %.2f, max %.2f)\t\t\n", r.ProcessingRatio, r.ProcessingRatioMin, r.ProcessingRatioMax)
		fmt.Fprintf(tw, "  a task result write (peer+result / peer)\t%.2f (min %.2f, max %.2f)\t\t\n", p.ResultWriteRatio, p.ResultWriteRatioMin, p.ResultWriteRatioMax)
		fmt.Fprintf(tw, "  the safe floor: sent mark + result (peer_safe / peer)\t%.2f (min %.2f, max %.2f)\tthe floor of wdtcancel's two crash guarantees\t\n", p.SafeFloorRatio, p.SafeFloorRatioMin, p.SafeFloorRatioMax)
		fmt.Fprintf(tw, "  wdtcancel beyond the floor (wdtcancel / peer_safe)\t%.2f (min %.2f, max %.2f)\t\t\n", r.SafePeerRatio, r.SafePeerRatioMin, r.SafePeerRatioMax)
	}
	e := r.Enqueue
	if e.Tasks > 0 {
		fmt.Fprintf(tw, "enqueue (%d tasks, medians)\tasynq one-by-one %.0f/s\tCancelMany %.0f/s\tratio %.2f (min %.2f, max %.2f; target >= 2)\n", e.Tasks, e.OneByOnePerSec, e.CancelManyPerSec, r.EnqueueRatio, r.EnqueueRatioMin, r.EnqueueRatioMax)
	}
	if e.CLITasks > 0 {
		fmt.Fprintf(tw, "enqueue CLI (%d numbers from a file)\t\t%.0f/s\tratio %.2f to one-by-one\n", e.CLITasks, e.CLIPerSec, e.CLIRatio)
	}
	if pk := r.Pickup; pk.Samples > 0 {
		fmt.Fprintf(tw, "idle pickup (%d samples)\tp50 %.1f ms\tp99 %.1f ms\tasynq default interval p50 %.0f ms (%d samples)\n", pk.Samples, pk.P50Ms, pk.P99Ms, pk.DefaultP50Ms, pk.DefaultSamples)
	}
	for _, s := range r.Scaling {
		fmt.Fprintf(tw, "scaling: %d process(es), extra Redis RTT %s\t%.0f tasks/s\tx%.2f\t\n", s.Processes, s.ProxyRTT, s.PerSec, s.Ratio)
	}
	if res := r.Resources; res != nil {
		fmt.Fprintf(tw, "resources\tworker peak RSS %.1f MB\tCPU %.2f s per 1000 tasks\tRedis %.0f B/queued task, %.0f B/dead letter\n", res.WorkerPeakRSSMB, res.WorkerCPUSecPer1000, res.RedisBytesPerQueued, res.RedisBytesPerDeadEntry)
	}
	if s := r.Sellers; s != nil {
		fmt.Fprintf(tw, "sellers: %d x %d orders, %d processes\t%.0f tasks/s\tx%.2f of one seller with the same total (%.0f tasks/s)\t\n", s.Sellers, s.OrdersPerSeller, s.Processes, s.MultiPerSec, s.ThroughputRatio, s.SinglePerSec)
		fmt.Fprintf(tw, "  each seller done after (s)\tmin %.2f, p10 %.2f, median %.2f, p90 %.2f, max %.2f\tfairness (min/max) %.2f\t\n", s.CompletionMinSec, s.CompletionP10Sec, s.CompletionMedianSec, s.CompletionP90Sec, s.CompletionMaxSec, s.Fairness)
	}
	if cn := r.Connections; cn != nil {
		fmt.Fprintf(tw, "connections (%d tasks, concurrency %d, median of %d rounds)\tfresh per call %.0f/s\treused %.0f/s\tfresh / reused %.2f (min %.2f, max %.2f)\n", cn.Tasks, cn.Concurrency, cn.Rounds, cn.FreshPerSec, cn.ReusePerSec, cn.Ratio, cn.RatioMin, cn.RatioMax)
	}
	tw.Flush()
	if qc := r.QuotaCost; qc != nil {
		printQuotaCost(w, qc)
	}
	if len(r.Idle) > 0 {
		printIdle(w, r.Idle)
	}
	fmt.Fprintf(w, "keys of the bench's queues left in Redis: %d\n", r.KeysLeft)
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// printIdle prints phase idle: a row per number of sellers.
func printIdle(w io.Writer, rows []bench.IdleRow) {
	fmt.Fprintf(w, "\nidle (one worker process, empty queues; pickup: a task for a seller idle since the start, enqueue to call)\n")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "sellers\tRedis commands/s\tworker CPU (%% of a core)\tpickup p50\tp99\tmax\tsamples\t\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%.0f\t%.2f%%\t%.0f ms\t%.0f ms\t%.0f ms\t%d\t\n", r.Sellers, r.RedisCmdsPerSec, r.WorkerCPUPerSecMs/10, r.PickupP50Ms, r.PickupP99Ms, r.PickupMaxMs, r.PickupSamples)
	}
	tw.Flush()
}

// printQuotaCost prints phase quota: the idle cost, then a row per
// configuration.
func printQuotaCost(w io.Writer, qc *bench.QuotaCostRes) {
	fmt.Fprintf(w, "\nat quota (concurrency %d, backlog %d; per call: net = beyond what the same workers cost idle)\n", qc.Concurrency, qc.Backlog)
	if len(qc.Sellers) > 0 {
		printQuotaSellers(w, qc.Sellers)
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "idle: processes\tRedis commands/s\tworker CPU ms/s\tlog bytes/s\t\n")
	for _, i := range qc.Idle {
		fmt.Fprintf(tw, "%d\t%.1f\t%.2f\t%.0f\t\n", i.Processes, i.RedisCmdsPerSec, i.WorkerCPUPerSecMs, i.LogBytesPerSec)
	}
	tw.Flush()
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "processes\trate/min\twindow s\tcalls\t%% of rate\trate-limit answers\tmax gap ms\tRedis cmds/call (net)\tRedis CPU ms/call\tworker CPU ms/call (net)\tlog bytes/call\t\n")
	for _, r := range qc.Rows {
		fmt.Fprintf(tw, "%d\t%d\t%.1f\t%d\t%.2f%%\t%d\t%.0f\t%.1f (%.1f)\t%.3f\t%.3f (%.3f)\t%.0f\t%s\n", r.Processes, r.Rate, r.Seconds, r.Calls, 100*r.Used,
			r.RateLimitAnswers, r.MaxGapMs, r.RedisCmdsPerCall, r.RedisCmdsPerCallNet, r.RedisCPUPerCallMs, r.WorkerCPUPerCallMs, r.WorkerCPUPerCallNet, r.LogBytesPerCall,
			map[bool]string{true: "ok", false: "FAIL"}[r.Pass])
	}
	tw.Flush()
}

// printQuotaSellers prints phase quota's multi-seller rows: the spread of
// the share of its rate each seller used, and the cost per call of all.
func printQuotaSellers(w io.Writer, rows []bench.QuotaSellersRow) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "processes\tsellers\trate/min each\tbacklog each\twindow s\tcalls\t%% of rate min / median / max\tbelow 99%%\trate-limit answers (sellers)\tmax gap ms (interval)\tidle Redis cmds/s\tRedis cmds/call (net)\tworker CPU ms/call (net)\t\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%.1f\t%d\t%.2f / %.2f / %.2f%%\t%d\t%d (%d)\t%.0f (%.0f)\t%.0f\t%.1f (%.1f)\t%.3f (%.3f)\t%s\n",
			r.Processes, r.Sellers, r.Rate, r.Backlog, r.Seconds, r.Calls, 100*r.UsedMin, 100*r.UsedMedian, 100*r.UsedMax, r.SellersBelow,
			r.RateLimitAnswers, r.SellersRateLimited, r.MaxGapMs, r.IntervalMs, r.IdleRedisCmdsPerSec, r.RedisCmdsPerCall, r.RedisCmdsPerCallNet,
			r.WorkerCPUPerCallMs, r.WorkerCPUPerCallNet, map[bool]string{true: "ok", false: "FAIL"}[r.Pass])
	}
	tw.Flush()
}
