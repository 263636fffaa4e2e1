package bench

import (
	"strconv"
	"time"
)

// Result is what `wdtcancel bench --json` prints.
type Result struct {
	// wdtcancel / the hand-rolled peer, median of rounds, with min and max.
	PeerRatio    float64 `json:"peer_ratio"`
	PeerRatioMin float64 `json:"peer_ratio_min"`
	PeerRatioMax float64 `json:"peer_ratio_max"`
	// wdtcancel / the peer that also keeps the crash-safety marks
	// (peer_safe: a sent mark before the call, a result after it): what
	// wdtcancel costs beyond the least any safe handler must do.
	SafePeerRatio    float64 `json:"safe_peer_ratio"`
	SafePeerRatioMin float64 `json:"safe_peer_ratio_min"`
	SafePeerRatioMax float64 `json:"safe_peer_ratio_max"`
	// wdtcancel / a no-op asynq handler, median of rounds, with min and max.
	ProcessingRatio    float64 `json:"processing_ratio"`
	ProcessingRatioMin float64 `json:"processing_ratio_min"`
	ProcessingRatioMax float64 `json:"processing_ratio_max"`
	EnqueueRatio       float64 `json:"enqueue_ratio"`
	EnqueueRatioMin    float64 `json:"enqueue_ratio_min"`
	EnqueueRatioMax    float64 `json:"enqueue_ratio_max"`
	PickupP50Ms        float64 `json:"pickup_p50_ms"`
	PickupP99Ms        float64 `json:"pickup_p99_ms"`

	Machine    Machine     `json:"machine"`
	Processing Processing  `json:"processing"`
	Enqueue    EnqueueRes  `json:"enqueue"`
	Pickup     Pickup      `json:"pickup"`
	Scaling    []ScaleRow  `json:"scaling,omitempty"`
	Resources  *Resources  `json:"resources,omitempty"`
	Sellers    *SellersRes `json:"sellers,omitempty"`
	// Connections: fresh connection per call vs reused (phase connections).
	Connections *ConnectionsRes `json:"connections,omitempty"`
	// QuotaCost: a call's cost at quota with a backlog (phase quota).
	QuotaCost *QuotaCostRes `json:"quota,omitempty"`
	// Idle: a worker's cost with empty queues per number of sellers, and
	// the pickup of a task for an idle seller (phase idle).
	Idle []IdleRow `json:"idle,omitempty"`
	// Events: notifications on vs off, events/s delivered (phase events).
	Events *EventsRes `json:"events,omitempty"`
	Notes  []string   `json:"notes,omitempty"`
	// KeysLeft counts keys of the bench's queues found in Redis after
	// cleanup: 0, or the bench left something behind.
	KeysLeft int         `json:"keys_left_behind"`
	Took     JSONSeconds `json:"took_seconds"`
}

// Machine describes where the figures were taken.
type Machine struct {
	CPUs         int    `json:"cpus"`
	CPUModel     string `json:"cpu_model,omitempty"`
	GoVersion    string `json:"go_version"`
	RedisVersion string `json:"redis_version"`
	RedisKind    string `json:"redis"`
	// /proc/loadavg when the run started and ended: the machine is shared.
	LoadStart string `json:"loadavg_start,omitempty"`
	LoadEnd   string `json:"loadavg_end,omitempty"`
}

// Processing compares a no-op handler with the real pipeline.
type Processing struct {
	// Tasks: the least backlog each variant's queue started with.
	Tasks        int `json:"tasks"`
	Concurrency  int `json:"concurrency"`
	Rounds       int `json:"rounds"`
	WarmupRounds int `json:"warmup_rounds_discarded"`
	// ReuseConnections: wdtcancel's client reused kept-alive connections
	// (bench --reuse-connections) instead of a fresh one per call.
	ReuseConnections bool `json:"reuse_connections"`
	// RoundSeconds: the least length of each measured window (--round-time);
	// LeadInSeconds: how long after a variant's first call it opens.
	RoundSeconds  float64 `json:"round_seconds"`
	LeadInSeconds float64 `json:"lead_in_seconds"`
	// The windows measured (warm-up excluded): shortest and longest, and
	// the fewest calls one held.
	WindowSecondsMin  float64 `json:"window_seconds_min"`
	WindowSecondsMax  float64 `json:"window_seconds_max"`
	CallsPerWindowMin int64   `json:"calls_per_window_min"`
	// SeparateProcesses: the sandbox and each variant ran in processes of
	// their own, counted from outside (always, since issue 24).
	SeparateProcesses bool `json:"separate_processes"`
	// Medians over the rounds.
	BaselinePerSec   float64 `json:"noop_tasks_per_sec"`
	PeerMedianPerSec float64 `json:"peer_tasks_per_sec"`
	RealMedianPerSec float64 `json:"real_tasks_per_sec"`
	// What a task result write (one HSET) costs the peer: peer with a
	// result / peer, median of rounds with min and max.
	ResultWriteRatio    float64 `json:"result_write_ratio"`
	ResultWriteRatioMin float64 `json:"result_write_ratio_min"`
	ResultWriteRatioMax float64 `json:"result_write_ratio_max"`
	// What a handler with wdtcancel's two crash guarantees pays at least in
	// Redis (a sent mark before the call and a result after it, see
	// peerSafe): peer_safe / peer, median of rounds with min and max. No
	// handler that keeps both can have a peer_ratio above it.
	SafeFloorRatio    float64 `json:"safe_floor_ratio"`
	SafeFloorRatioMin float64 `json:"safe_floor_ratio_min"`
	SafeFloorRatioMax float64 `json:"safe_floor_ratio_max"`
	// Per round, in round order.
	PeerSafePerSec   []float64 `json:"peer_safe_per_round"`
	NoopPerSec       []float64 `json:"noop_per_round"`
	PeerPerSec       []float64 `json:"peer_per_round"`
	PeerResultPerSec []float64 `json:"peer_result_per_round"`
	RealPerSec       []float64 `json:"wdtcancel_per_round"`
}

// EnqueueRes compares enqueue paths.
type EnqueueRes struct {
	Tasks            int       `json:"tasks"`
	OneByOnePerSec   float64   `json:"asynq_one_by_one_per_sec"`
	CancelManyPerSec float64   `json:"cancel_many_per_sec"`
	OneByOneRounds   []float64 `json:"asynq_one_by_one_per_round"`
	CancelManyRounds []float64 `json:"cancel_many_per_round"`
	// The CLI runs once (after the rounds), so its figure has no spread.
	CLITasks  int     `json:"cli_tasks,omitempty"`
	CLIPerSec float64 `json:"cli_file_per_sec,omitempty"`
	CLIRatio  float64 `json:"cli_ratio,omitempty"`
}

// Pickup is idle pickup latency.
type Pickup struct {
	Samples        int     `json:"samples"`
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`
	DefaultSamples int     `json:"asynq_default_interval_samples"`
	DefaultP50Ms   float64 `json:"asynq_default_interval_p50_ms"`
}

// ScaleRow is one scaling measurement.
type ScaleRow struct {
	Processes int     `json:"processes"`
	ProxyRTT  string  `json:"redis_extra_rtt"`
	PerSec    float64 `json:"tasks_per_sec"`
	Ratio     float64 `json:"ratio_to_one_process"`
}

// Resources are worker and Redis costs.
type Resources struct {
	WorkerPeakRSSMB        float64 `json:"worker_peak_rss_mb"`
	WorkerCPUSecPer1000    float64 `json:"worker_cpu_seconds_per_1000_tasks"`
	RedisBytesPerQueued    float64 `json:"redis_bytes_per_queued_task"`
	RedisBytesPerDeadEntry float64 `json:"redis_bytes_per_dead_letter"`
	// What remembering one success costs (MEMORY USAGE): the result field
	// in asynq's task hash (a completed wdtcancel task's hash minus a
	// completed peer task's, whose handler writes no result) plus any
	// outcome-memory key left after the success. For comparison, the
	// 30-day confirmed key each success used to leave.
	RedisBytesPerSuccess         float64 `json:"redis_bytes_per_success_remembered"`
	RedisBytesOutcomeKeysPerTask float64 `json:"redis_outcome_memory_key_bytes_per_success"`
	RedisBytesLegacyConfirmedKey float64 `json:"redis_bytes_legacy_confirmed_key"`
}

// JSONSeconds is a duration printed as seconds.
type JSONSeconds time.Duration

// MarshalJSON prints seconds with millisecond precision.
func (d JSONSeconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(d).Seconds(), 'f', 3, 64)), nil
}
