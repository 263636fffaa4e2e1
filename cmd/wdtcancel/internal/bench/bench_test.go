package bench

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRunSmall runs every in-process phase on tiny figures. It asserts that
// each phase measured something, never how fast: speed is for the bench
// command to print, not for a test to judge. Without commands to start
// processes, the processing phase (processes only) is skipped, and says so.
func TestRunSmall(t *testing.T) {
	res, err := Run(context.Background(), Options{Tasks: 200, Rounds: 1, EnqueueTasks: 200, CLITasks: -1, PickupSamples: 3, DefaultPickupSamples: 2})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{
		"enqueue_ratio": res.EnqueueRatio, "pickup_p50_ms": res.PickupP50Ms,
	} {
		if v <= 0 {
			t.Errorf("%s = %v", name, v)
		}
	}
	if cn := res.Connections; cn == nil || cn.FreshPerSec <= 0 || cn.ReusePerSec <= 0 || cn.Ratio <= 0 || len(cn.FreshPerSecRounds) != 1 {
		t.Errorf("connections phase %+v", cn)
	}
	if res.Pickup.Samples != 3 || res.Pickup.DefaultSamples == 0 {
		t.Errorf("pickup %+v", res.Pickup)
	}
	if res.KeysLeft != 0 {
		t.Errorf("%d keys of the bench's queues left in Redis", res.KeysLeft)
	}
	if len(res.Scaling) != 0 || !hasNote(res.Notes, "scaling and worker resources skipped") {
		t.Errorf("scaling ran without a worker command: %+v, notes %q", res.Scaling, res.Notes)
	}
	if res.PeerRatio != 0 || len(res.Processing.RealPerSec) != 0 || !hasNote(res.Notes, "processing: skipped") {
		t.Errorf("processing ran without commands to start its processes: peer_ratio %v, notes %q", res.PeerRatio, res.Notes)
	}
}

func hasNote(notes []string, prefix string) bool {
	for _, n := range notes {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

func TestDelayProxy(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	const delay = 20 * time.Millisecond
	p, err := startDelayProxy(echo.Addr().String(), delay)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	msg := []byte("PING 1\r\nPING 2\r\n")
	c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: the proxy can never be faster than its delay.
	if rtt := time.Since(start); rtt < 2*delay {
		t.Fatalf("round trip %s through a proxy delaying %s each way", rtt, delay)
	}
	if string(got) != string(msg) {
		t.Fatalf("bytes changed or reordered: %q", got)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if percentile(d, 50) != 50*time.Millisecond || percentile(d, 99) != 99*time.Millisecond || percentile(d[:1], 99) != time.Millisecond {
		t.Fatalf("%v %v", percentile(d, 50), percentile(d, 99))
	}
}
