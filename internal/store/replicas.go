package store

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/wdtcancel/wdtcancel/internal/redisinfo"
)

// AutoReplicas, as Durable's replica count, waits for every replica the
// master of the queue reports online (INFO replication), re-read with each
// wait and by the caller's periodic check (Replicas.Observe): 0 where the
// master has none. It is --redis-wait-replicas auto.
const AutoReplicas = -1

// DefaultLowerAfter is how long a master must report fewer replicas than
// before until auto waits for fewer. A replica that leaves a live master
// is how a failover begins: the replica Sentinel promotes stops
// replicating first, and writes that the old master then acknowledged with
// the remaining replicas are lost when clients move to the promoted one
// (issue 20: 190 of 340 acknowledged enqueues with a wait for 1 of 2).
// Sentinel demotes the old master, or clients leave it, within seconds;
// until the lower count has lasted this long, a write the remaining
// replicas acknowledged is reported not replicated (an enqueue is
// "unknown", safe to repeat). A new master (another master_replid) is
// believed at once.
const DefaultLowerAfter = 10 * time.Second

// DefaultUnmetBound is how long a replica wait may keep failing before
// readiness turns red (Replicas.Unmet): longer than DefaultLowerAfter, so
// a replica that went away for good is first stopped being waited for.
const DefaultUnmetBound = 30 * time.Second

// Replicas keeps, per master, how many replicas an auto wait waits for and
// whether waits are being met. One value is shared by every Durable of a
// client (each queue of a Cluster has its own slot master); it is safe for
// concurrent use.
type Replicas struct {
	lowerAfter time.Duration
	now        func() time.Time

	mu    sync.Mutex
	nodes map[string]*masterWait // by the master's address
}

type masterWait struct {
	known  bool
	replID string
	count  int // replicas auto waits for
	// lowerTo/lowerSince: the master reported fewer replicas (lowerTo)
	// since lowerSince; adopted after lowerAfter.
	lowering   bool
	lowerTo    int
	lowerSince time.Time
	// unmetSince is when waits on this master began to fail (zero: the
	// last one was met); unmet says how the last one failed.
	unmetSince time.Time
	unmet      string
}

// NewReplicas tracks replica counts; lowerAfter 0 is DefaultLowerAfter.
func NewReplicas(lowerAfter time.Duration) *Replicas {
	if lowerAfter <= 0 {
		lowerAfter = DefaultLowerAfter
	}
	return &Replicas{lowerAfter: lowerAfter, now: time.Now, nodes: map[string]*masterWait{}}
}

func (r *Replicas) node(addr string) *masterWait {
	m := r.nodes[addr]
	if m == nil {
		m = &masterWait{}
		r.nodes[addr] = m
	}
	return m
}

// Observe records what a master (or a Cluster's masters) reported, for
// the masters a wait has used (seed): a new master (master_replid changed)
// or more replicas are adopted at once; fewer replicas on the same master
// only once that has lasted lowerAfter (DefaultLowerAfter says why). Nodes
// that did not report, or were never seeded, are skipped.
func (r *Replicas) Observe(nodes ...redisinfo.Node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range nodes {
		if m := r.nodes[n.Addr]; m != nil && m.known {
			r.observe(n)
		}
	}
}

// seed records the first report of a master a wait uses, with what the
// last client stored (ReplicasKey: stored "replid count"): a stored count
// above the one reported for the same master is kept, and the lower one
// believed only after lowerAfter, as if this client had seen it fall.
// Without it a client started in the second a replica left the master (a
// Sentinel failover beginning) would wait for the rest, and the writes they
// acknowledged are lost when the promoted replica takes over.
func (r *Replicas) seed(n redisinfo.Node, stored string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.node(n.Addr)
	if m.known {
		r.observe(n)
		return
	}
	var replid string
	var count int
	if _, err := fmt.Sscanf(stored, "%s %d", &replid, &count); err == nil {
		switch {
		case replid == n.ReplID && count > n.Replicas:
			m.known, m.replID, m.count = true, replid, count
		case successor(n, replid, count):
			m.known, m.replID, m.count = true, n.ReplID, count-1
		}
	}
	r.observe(n)
}

// stored is what to write to ReplicasKey for the master at addr, "" when
// nothing is known. A count lowered to 0 is stored too, so that clients
// starting later do not wait for replicas removed for good.
func (r *Replicas) stored(addr string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.nodes[addr]
	if m == nil || !m.known || m.replID == "" {
		return ""
	}
	return fmt.Sprintf("%s %d", m.replID, m.count)
}

// observe applies one report; r.mu is held.
func (r *Replicas) observe(n redisinfo.Node) {
	if n.Role == "" && n.ReplID == "" {
		return // no replication section
	}
	now := r.now()
	m := r.node(n.Addr)
	switch {
	case m.known && n.ReplID != m.replID && successor(n, m.replID, m.count):
		m.replID, m.count = n.ReplID, m.count-1
		m.lowering, m.lowerTo, m.lowerSince = true, n.Replicas, now
	case !m.known, n.ReplID != m.replID, n.Replicas >= m.count:
		m.known, m.replID, m.count, m.lowering = true, n.ReplID, n.Replicas, false
	case !m.lowering || m.lowerTo != n.Replicas:
		m.lowering, m.lowerTo, m.lowerSince = true, n.Replicas, now
	case now.Sub(m.lowerSince) >= r.lowerAfter:
		m.count, m.lowering = n.Replicas, false
	}
}

// noReplication records a master that will not say what replicas it has
// (INFO denied, or miniredis): auto waits for none until it does.
func (r *Replicas) noReplication(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.node(addr); !m.known {
		m.known, m.count = true, 0
	}
}

// Count is how many replicas an auto wait on the master at addr waits for,
// and whether the master was ever observed.
func (r *Replicas) Count(addr string) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.nodes[addr]
	if m == nil || !m.known {
		return 0, false
	}
	return m.count, true
}

// Counts is Count of every master observed, by address.
func (r *Replicas) Counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.nodes))
	for a, m := range r.nodes {
		if m.known {
			out[a] = m.count
		}
	}
	return out
}

func (r *Replicas) met(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.nodes[addr]; m != nil {
		m.unmetSince, m.unmet = time.Time{}, ""
	}
}

func (r *Replicas) failed(addr, how string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.node(addr)
	if m.unmetSince.IsZero() {
		m.unmetSince = r.now()
	}
	m.unmet = how
}

// Unmet describes each master whose replica waits have all failed for at
// least bound (DefaultUnmetBound when 0), with what to do: readiness shows
// it, as a wait that keeps failing makes every critical write an unknown
// outcome. Sorted by address; nil when every wait is met.
func (r *Replicas) Unmet(bound time.Duration) []string {
	if bound <= 0 {
		bound = DefaultUnmetBound
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []string
	for a, m := range r.nodes {
		if m.unmetSince.IsZero() || now.Sub(m.unmetSince) < bound {
			continue
		}
		out = append(out, fmt.Sprintf("redis master %s: the replica wait has not been met for %s (%s): critical writes are not known to survive a failover; bring the replicas back (INFO replication, master_link_status), or lower --redis-wait-replicas (auto waits for the replicas that are online)",
			a, now.Sub(m.unmetSince).Round(time.Second), m.unmet))
	}
	sort.Strings(out)
	return out
}

// sameMaster reports whether n (a report of the node at addr) is the
// master whose count Count(addr) gives: the same master_replid. A node
// never seen, or one whose replication ID changed (promoted, or restarted
// without its data), is another master as far as a wait is concerned.
func (r *Replicas) sameMaster(addr string, n redisinfo.Node) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.nodes[addr]
	if m == nil || !m.known {
		return false
	}
	return m.replID == "" || n.ReplID == "" || m.replID == n.ReplID
}

// forget drops a node that is no longer a master (Sentinel demoted it):
// readiness lists the masters waits use, and a node promoted again later
// is seeded afresh.
func (r *Replicas) forget(addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.nodes, addr)
}

// successor reports whether n is a replica promoted from the master whose
// history was replid and which had count replicas, and reports fewer than
// the count-1 left: the old master's other replicas are expected to
// follow it. Until they are online (or lowerAfter passed), auto waits for
// them, so the promoted master does not acknowledge writes that no
// replica has (issue 20: without AOF, a crash of the new master in the
// seconds before its replicas resynchronised would lose them).
func successor(n redisinfo.Node, replid string, count int) bool {
	return n.ReplID2 != "" && n.ReplID2 == replid && n.ReplID != replid && count-1 > n.Replicas
}
