package clients_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// RequireClientsEnv, when true, makes a missing php (with curl) or java a
// failure instead of a skip. CI sets it.
const RequireClientsEnv = "WDTCANCEL_REQUIRE_CLIENTS"

var (
	binDir    string
	buildOnce sync.Once
	bin       string
	buildErr  error
)

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "wdtcancel-clients-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// binary is the wdtcancel binary users run, built once for the package.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() { bin, buildErr = testkit.Build(binDir, "../../cmd/wdtcancel") })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// producer is one example program and how to run it.
type producer struct {
	name string
	// argv is the command line that runs the program.
	argv []string
	// missing says why the runtime is absent ("" when present).
	missing func() string
}

var producers = []producer{
	{
		name: "php",
		argv: []string{"php", "php/producer.php"},
		missing: func() string {
			out, err := exec.Command("php", "-m").Output()
			if err != nil {
				return "php not runnable (apt-get install php-cli php-curl): " + err.Error()
			}
			if !slices.Contains(strings.Fields(string(out)), "curl") {
				return "php has no curl extension (apt-get install php-curl)"
			}
			return ""
		},
	},
	{
		name: "java",
		argv: []string{"java", "java/Producer.java"},
		missing: func() string {
			for _, tool := range []string{"java", "javac"} { // source launch needs the compiler
				if _, err := exec.LookPath(tool); err != nil {
					return tool + " not found (apt-get install default-jdk-headless)"
				}
			}
			return ""
		},
	},
}

func TestPHPProducer(t *testing.T)  { testProducer(t, producers[0]) }
func TestJavaProducer(t *testing.T) { testProducer(t, producers[1]) }

// output is a producer's stdout split into tab-separated lines by their
// first field.
type output map[string][][]string

func parse(stdout string) output {
	o := output{}
	for _, line := range strings.Split(strings.TrimRight(stdout, "\n"), "\n") {
		if f := strings.Split(line, "\t"); len(f) > 1 {
			o[f[0]] = append(o[f[0]], f[1:])
		}
	}
	return o
}

// nos is the second field (the number) of every line of a kind, sorted.
func (o output) nos(kind string) []string {
	var out []string
	for _, f := range o[kind] {
		out = append(out, f[0])
	}
	sort.Strings(out)
	return out
}

// env is one setting of a producer's environment.
func env(k, v string) string { return k + "=" + v }

// testProducer runs one example program against a real `wdtcancel api`
// (started with --max-numbers 3, so every batch meets a 413 and must be
// split) and a real Redis, and checks its output, its exit code and the
// tasks it left in Redis.
func testProducer(t *testing.T, p producer) {
	t.Parallel()
	if why := p.missing(); why != "" {
		if v, _ := strconv.ParseBool(os.Getenv(RequireClientsEnv)); v {
			t.Fatalf("%s producer cannot run: %s (%s=1 forbids skipping)", p.name, why, RequireClientsEnv)
		}
		t.Skipf("%s producer cannot run: %s (set %s=1 to fail instead)", p.name, why, RequireClientsEnv)
	}
	// AOF so that a stop and restart keeps the queue asynq registered, as a
	// production Redis with persistence does.
	r := testkit.NewRedisWith(t, testkit.RedisOptions{AppendFsync: "always"})
	if !r.Real {
		t.Skip("needs a real redis-server to stop and restart")
	}
	// A worker serving shop-a has announced it: the api accepts the seller.
	ardb := redis.NewClient(&redis.Options{Addr: r.Addr})
	if err := store.Announce(context.Background(), ardb, tasks.QueueFor(tasks.DefaultQueue, "shop-a")); err != nil {
		t.Fatal(err)
	}
	ardb.Close()
	const token = "s3cret-t0ken"
	source := p.name + "-producer-test"
	addr := testkit.FreeAddr(t)
	testkit.Start(t, "wdtcancel api", binary(t), []string{env("WDTCANCEL_API_TOKEN", token)},
		"api", "--listen", addr, "--redis-url", r.URL(), "--max-numbers", "3")
	testkit.WaitListening(t, addr)
	// The binary serves the document kept in the repository, without a token.
	want, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if code, got := testkit.Get(t, "http://"+addr+"/v1/openapi.yaml"); code != 200 || !bytes.Equal(got, want) {
		t.Errorf("GET /v1/openapi.yaml: %d, %d bytes; want 200 and enqueue/openapi.yaml (%d bytes)", code, len(got), len(want))
	}

	base := []string{
		env("WDTCANCEL_API_URL", "http://"+addr), env("WDTCANCEL_API_TOKEN", token),
		env("WDTCANCEL_SOURCE", source), env("WDTCANCEL_TRIES", "3"), env("WDTCANCEL_RETRY_DELAY_MS", "100"),
	}
	run := func(extra []string, stdin string, args ...string) (testkit.Result, output) {
		t.Helper()
		res := testkit.Run(t, p.argv[0], append(slices.Clone(base), extra...), stdin, append(p.argv[1:], args...)...)
		t.Logf("%s %q: exit %d\nstdout:\n%sstderr:\n%s", p.name, args, res.Code, res.Stdout, res.Stderr)
		return res, parse(res.Stdout)
	}
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: r.Addr})
	defer insp.Close()
	// pendingOf is every pending task of a seller's queue, checked to be a
	// cancel task whose ID is its number and whose payload names this
	// producer and the seller.
	pendingOf := func(seller string) []string {
		t.Helper()
		queue := tasks.QueueFor(tasks.DefaultQueue, seller)
		list, err := insp.ListPendingTasks(queue, asynq.PageSize(1000))
		if err != nil {
			t.Fatalf("list pending tasks of %s: %v", queue, err)
		}
		var ids []string
		for _, ti := range list {
			var pl tasks.Payload
			if err := json.Unmarshal(ti.Payload, &pl); err != nil || ti.Type != tasks.TypeCancel ||
				pl.PreStockinNo != ti.ID || pl.Source != source || pl.RequestedAt.IsZero() || pl.SellerName() != seller {
				t.Errorf("task %s in %s: type %q payload %s (%v); want %s, the number, source %q, requested_at, seller %s",
					ti.ID, queue, ti.Type, ti.Payload, err, tasks.TypeCancel, source, seller)
			}
			ids = append(ids, ti.ID)
		}
		sort.Strings(ids)
		return ids
	}
	pending := func() []string { t.Helper(); return pendingOf(tasks.DefaultSeller) }
	expect := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", what, got, want)
		}
	}

	// A batch of valid, repeated and invalid numbers, as arguments.
	res, out := run(nil, "", "N1", "N2", "N 3", "N1", "N4", "N5", "N6", "N7", "N!")
	expect("batch exit code (1: some invalid)", res.Code, 1)
	expect("enqueued", out.nos("enqueued"), []string{"N1", "N2", "N4", "N5", "N6", "N7"})
	expect("duplicate", out["duplicate"], [][]string{{"N1", "pending"}})
	expect("invalid", out.nos("invalid"), []string{"N 3", "N!"})
	for _, f := range out["invalid"] {
		if len(f) < 2 || !strings.Contains(f[1], "not allowed") {
			t.Errorf("invalid line without its reason: %q", f)
		}
	}
	expect("summary", out["summary"], [][]string{{"enqueued=6", "duplicate=1", "invalid=2", "later=0"}})
	if !strings.Contains(res.Stderr, "413") {
		t.Errorf("the batch of 9 against --max-numbers 3 met no 413 to split on: %s", res.Stderr)
	}
	expect("pending in Redis after the batch", pending(), []string{"N1", "N2", "N4", "N5", "N6", "N7"})

	// One number a line on stdin, blank lines skipped.
	res, out = run(nil, "N1\n\nN8\n")
	expect("stdin exit code", res.Code, 0)
	expect("stdin enqueued", out.nos("enqueued"), []string{"N8"})
	expect("stdin duplicate", out["duplicate"], [][]string{{"N1", "pending"}})
	expect("pending after stdin", pending(), []string{"N1", "N2", "N4", "N5", "N6", "N7", "N8"})

	// Look-ups.
	res, out = run(nil, "", "--status", "N8", "N404", "N 3")
	expect("status exit code (1: some not found)", res.Code, 1)
	expect("status", out["status"], [][]string{{"N8", "pending", "attempts=0", "last_error="}})
	expect("not_found", out.nos("not_found"), []string{"N404"})
	expect("status invalid", out.nos("invalid"), []string{"N 3"})

	// Another seller: its own queue, so N1 is new there.
	shop := []string{env("WDTCANCEL_SELLER", "shop-a")}
	res, out = run(shop, "", "N1", "N20")
	expect("seller exit code", res.Code, 0)
	expect("seller enqueued", out.nos("enqueued"), []string{"N1", "N20"})
	expect("pending for shop-a", pendingOf("shop-a"), []string{"N1", "N20"})
	res, out = run(shop, "", "--status", "N20", "N8")
	expect("seller status exit code (N8 is the default seller's)", res.Code, 1)
	expect("seller status", out["status"], [][]string{{"N20", "pending", "attempts=0", "last_error="}})
	expect("seller not_found", out.nos("not_found"), []string{"N8"})
	res, _ = run([]string{env("WDTCANCEL_SELLER", "Shop A")}, "", "N21")
	expect("bad seller exit code (400 is refused)", res.Code, 2)
	if !strings.Contains(res.Stderr, "400") || !strings.Contains(res.Stderr, "seller") {
		t.Errorf("a bad seller: want a 400 naming the seller, got %q", res.Stderr)
	}

	// A wrong token: refused, never retried, nothing enqueued.
	res, out = run([]string{env("WDTCANCEL_API_TOKEN", "n0t-the-t0ken")}, "", "N9")
	expect("401 exit code", res.Code, 2)
	if !strings.Contains(res.Stderr, "401") || strings.Count(res.Stderr, "\n") != 1 || len(out) != 0 {
		t.Errorf("401: want one stderr line naming 401 and no stdout, got %q / %q", res.Stderr, res.Stdout)
	}
	if strings.Contains(res.Stderr+res.Stdout, "n0t-the-t0ken") {
		t.Errorf("the token was printed: %q", res.Stderr+res.Stdout)
	}

	// Redis down for good: every try answers 503; the numbers are reported
	// to send again later, with exit code 3.
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	res, out = run([]string{env("WDTCANCEL_TRIES", "2")}, "", "N10", "N11")
	expect("503 exit code (3: send again later)", res.Code, 3)
	expect("later", out.nos("later"), []string{"N10", "N11"})
	expect("summary after giving up", out["summary"], [][]string{{"enqueued=0", "duplicate=0", "invalid=0", "later=2"}})
	if got := strings.Count(res.Stderr, "retrying"); got != 1 {
		t.Errorf("2 tries: want 1 retry line, got %d: %s", got, res.Stderr)
	}

	// Redis back during the back-off: the producer's retry succeeds.
	proc := testkit.Start(t, p.name+" producer", p.argv[0],
		append(slices.Clone(base), env("WDTCANCEL_TRIES", "8"), env("WDTCANCEL_RETRY_DELAY_MS", "250")),
		append(p.argv[1:], "N10", "N12")...)
	retrying := func() bool { return strings.Contains(proc.Out.String(), "retrying") }
	if !testkit.PollWithin(60*time.Second, func() bool { return retrying() || proc.Exited() }) || !retrying() {
		t.Fatalf("the producer did not retry while Redis was down: %s", proc.Out.String())
	}
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	if exited, err := proc.Wait(90 * time.Second); !exited || err != nil {
		t.Fatalf("producer after Redis came back: exited %v, %v: %s", exited, err, proc.Out.String())
	}
	o := parse(proc.Out.String())
	expect("enqueued after the restart", o.nos("enqueued"), []string{"N10", "N12"})
	expect("pending after the restart", pending(), []string{"N1", "N10", "N12", "N2", "N4", "N5", "N6", "N7", "N8"})
}
