package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/config"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/internal/testkit/runview"
	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// TestCommandsOnSentinelAndCluster runs every production command as a
// process of the real binary against a live Sentinel setup and a live
// Redis Cluster: worker (with --redis-wait-replicas 1, so every critical
// write waits for the replica), enqueue from the CLI, the HTTP API and the
// Go client, status, dlq ls/show/requeue/purge, retry --held, the Prometheus exporter and
// asynqmon's API on the ops port. A few dozen orders each.
func TestCommandsOnSentinelAndCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts two Redis topologies")
	}
	bin, err := testkit.Build(t.TempDir(), ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, topo := range []string{"sentinel", "cluster"} {
		t.Run(topo, func(t *testing.T) {
			var redisVar string
			var conn asynq.RedisConnOpt
			if topo == "sentinel" {
				s := testkit.NewSentinel(t, testkit.TopologyOptions{})
				redisVar = "REDIS_URL=" + s.URL()
				if conn, err = (&config.Redis{URL: s.URL()}).ConnOpt(); err != nil {
					t.Fatal(err)
				}
			} else {
				c := testkit.NewCluster(t, testkit.TopologyOptions{})
				redisVar = "REDIS_CLUSTER=" + strings.Join(c.Addrs(), ",")
				if conn, err = (&config.Redis{Cluster: c.Addrs()}).ConnOpt(); err != nil {
					t.Fatal(err)
				}
			}
			runCommandsOn(t, bin, redisVar, conn)
		})
	}
}

func runCommandsOn(t *testing.T, bin, redisVar string, conn asynq.RedisConnOpt) {
	// 24 editable, 6 already completed (clean rejections: dead letters).
	var nos []string
	initial := map[string]int{}
	for i := 0; i < 30; i++ {
		no := fmt.Sprintf("TP%03d", i)
		nos = append(nos, no)
		initial[no] = sandbox.StateEditing
		if i%5 == 4 {
			initial[no] = sandbox.StateCompleted
		}
	}
	orders := runview.WriteOrders(t, t.TempDir(), nos, initial)
	sbAddr, opsAddr, apiAddr := testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)
	env := []string{redisVar, "WDT_URL=http://" + sbAddr + "/openapi", "WDT_SID=tp", "WDT_APPKEY=tpkey", "WDT_APPSECRET=TpSecret:TpSalt",
		"WDTCANCEL_SANDBOX_SID=tp", "WDTCANCEL_SANDBOX_APPKEY=tpkey", "WDTCANCEL_SANDBOX_APPSECRET=TpSecret:TpSalt",
		"WDTCANCEL_REDIS_WAIT_REPLICAS=1", "WDTCANCEL_API_TOKEN=tptoken"}
	testkit.Start(t, "sandbox", bin, env, "sandbox", "--listen", sbAddr, "--orders", orders, "--unknown", "missing")
	testkit.WaitListening(t, sbAddr)
	testkit.Start(t, "worker", bin, env, "worker", "--listen", opsAddr, "--concurrency", "4", "--shutdown-timeout", "5s")
	testkit.WaitListening(t, opsAddr)
	testkit.Start(t, "api", bin, env, "api", "--listen", apiAddr)
	testkit.WaitListening(t, apiAddr)

	// Three producers: the CLI, the HTTP API, the Go client.
	enq := testkit.Run(t, bin, env, strings.Join(nos[:20], "\n"), "enqueue", "--file", "-", "--json")
	var sum enqueue.Summary
	if enq.Code != 0 || json.Unmarshal([]byte(enq.Stdout), &sum) != nil || sum.Enqueued != 20 {
		t.Fatalf("enqueue exit %d: %s", enq.Code, enq.Output())
	}
	body := `{"pre_stockin_nos":["` + strings.Join(nos[20:25], `","`) + `"]}`
	req, _ := http.NewRequest("POST", "http://"+apiAddr+"/v1/cancellations", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer tptoken")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var apiSum enqueue.Summary
	json.NewDecoder(resp.Body).Decode(&apiSum)
	resp.Body.Close()
	if resp.StatusCode != 200 || apiSum.Enqueued != 5 {
		t.Fatalf("api: %d %+v", resp.StatusCode, apiSum)
	}
	client, err := enqueue.New(conn, enqueue.WithWaitReplicas(1, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	res, err := client.CancelSlice(context.Background(), nos[25:], enqueue.ManyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := enqueue.Summarize(res, false); s.Enqueued != 5 {
		t.Fatalf("Go client: %+v", s)
	}

	// Every task settles: 24 done, 6 dead.
	insp := asynq.NewInspector(conn)
	defer insp.Close()
	var q *asynq.QueueInfo
	if !testkit.PollWithin(90*time.Second, func() bool {
		q, err = insp.GetQueueInfo(tasks.DefaultQueue)
		return err == nil && q.Completed == 24 && q.Archived == 6
	}) {
		t.Fatalf("not settled: %+v %v", q, err)
	}

	st := testkit.Run(t, bin, env, "", "status", "--json", nos[0])
	if st.Code != 0 || !strings.Contains(st.Stdout, `"completed"`) {
		t.Errorf("status exit %d: %s", st.Code, st.Output())
	}
	if st := testkit.Run(t, bin, env, "", "status", "--json", nos[4]); !strings.Contains(st.Stdout, `"dead"`) {
		t.Errorf("status of a dead number, exit %d: %s", st.Code, st.Output())
	}
	ls := testkit.Run(t, bin, env, "", "dlq", "ls", "--json")
	if dead := runview.ParseDLQ(t, ls.Stdout); ls.Code != 0 || len(dead) != 6 {
		t.Fatalf("dlq ls exit %d, %d records: %s", ls.Code, len(dead), ls.Output())
	}
	if show := testkit.Run(t, bin, env, "", "dlq", "show", nos[4]); show.Code != 0 {
		t.Errorf("dlq show exit %d: %s", show.Code, show.Output())
	}
	if rq := testkit.Run(t, bin, env, "", "dlq", "requeue", nos[4]); rq.Code != 0 {
		t.Errorf("dlq requeue exit %d: %s", rq.Code, rq.Output())
	}
	if pg := testkit.Run(t, bin, env, "", "dlq", "purge", "--yes", nos[9]); pg.Code != 0 {
		t.Errorf("dlq purge exit %d: %s", pg.Code, pg.Output())
	}

	if rt := testkit.Run(t, bin, env, "", "retry", "--held"); rt.Code != 0 {
		t.Errorf("retry --held exit %d: %s", rt.Code, rt.Output())
	}

	code, metrics := testkit.Get(t, "http://"+opsAddr+"/metrics")
	if code != 200 || !strings.Contains(string(metrics), "wdtcancel_calls_total") || !strings.Contains(string(metrics), "wdtcancel_dead_letters") {
		t.Errorf("metrics %d: %.300s", code, metrics)
	}
	if code, _ := testkit.Get(t, "http://"+opsAddr+"/readyz"); code != 200 {
		t.Errorf("readyz %d", code)
	}
	var queues []struct {
		Queue string `json:"queue"`
		Size  int    `json:"size"`
	}
	code, b := testkit.Get(t, "http://"+opsAddr+"/monitoring/api/queues")
	var wrapped struct {
		Queues json.RawMessage `json:"queues"`
	}
	if code != 200 || json.Unmarshal(b, &wrapped) != nil || json.Unmarshal(wrapped.Queues, &queues) != nil || len(queues) == 0 || queues[0].Queue != tasks.DefaultQueue {
		t.Errorf("asynqmon queues %d: %.300s", code, b)
	}
}
