package enqueue_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/wdtcancel/wdtcancel/enqueue"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// docs/producers.md's "Producing from Go": one number, then a batch. It needs the
// Redis of REDIS_URL (or 127.0.0.1:6379), so it is compiled but not run.
func Example() {
	ctx := context.Background()
	numbers := []string{"RK2004210015", "RK2004210016"}

	// The CLI's URLs (redis://, rediss://, redis-sentinel://...?master=NAME) and defaults: the replica
	// wait on auto, Redis checked (reachable, noeviction, durable) before Open returns.
	c, err := enqueue.Open(ctx, os.Getenv("REDIS_URL"), enqueue.WithSource("erp-sync"))
	if err != nil {
		log.Fatal(err) // matches enqueue.ErrUnavailable, ErrEviction or ErrVolatile, with the fix
	}
	defer c.Close()
	res, err := c.Cancel(ctx, "RK2004210014") // res.Result: enqueued | duplicate (res.State) | invalid | failed
	switch {
	case errors.Is(err, tasks.ErrInvalid): // a bad number: nothing was enqueued
	case errors.Is(err, enqueue.ErrUnavailable): // Redis down: try again later
	}
	results, err := c.CancelSlice(ctx, numbers, enqueue.ManyOptions{}) // bulk, 32 in flight
	acme, err := c.ForSeller("acme")                                   // seller acme's queue, same connection (or enqueue.WithSeller("acme") in New)
	fmt.Println(res.Result, len(results), acme.Queue(), err)
}

// Cancel on a Redis of its own: a number is enqueued once, a second enqueue
// is a duplicate that says where the task stands, and a bad number is
// refused with the reason.
func ExampleClient_Cancel() {
	r, err := testkit.StartRedis(testkit.RedisOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	c, err := enqueue.New(asynq.RedisClientOpt{Addr: r.Addr}, enqueue.WithSource("erp-sync"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()

	for _, no := range []string{"RK2004210014", " RK2004210014 ", "RK 1"} {
		res, err := c.Cancel(ctx, no)
		if err != nil { // tasks.ErrInvalid: refused; enqueue.ErrUnavailable: Redis down, try later
			fmt.Printf("%q: %s: %v\n", no, res.Result, err)
			continue
		}
		fmt.Printf("%q: %s (%s)\n", res.PreStockinNo, res.Result, res.State)
	}
	// Output:
	// "RK2004210014": enqueued (pending)
	// "RK2004210014": duplicate (pending)
	// "RK 1": invalid: invalid pre_stockin_no "RK 1": character U+0020 at position 3 is not allowed (use letters, digits, '-', '_', '.')
}

// The HTTP producer, for ERP jobs not written in Go: the request a PHP, Java
// or C# job sends and the answer it gets, one item per number in input order.
func ExampleNewAPI() {
	r, err := testkit.StartRedis(testkit.RedisOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	c, err := enqueue.New(asynq.RedisClientOpt{Addr: r.Addr})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	api := enqueue.NewAPI(c, enqueue.APIOptions{Token: "s3cret"})

	req := httptest.NewRequest(http.MethodPost, "/v1/cancellations",
		strings.NewReader(`{"pre_stockin_nos":["RK2004210014","RK2004210014","RK 1"],"source":"php-sync"}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	fmt.Print(rec.Body.String())
	// Output:
	// 200
	// {"seller":"default","enqueued":1,"duplicate":1,"invalid":1,"failed":0,"items":[{"pre_stockin_no":"RK2004210014","result":"enqueued","state":"pending","error":""},{"pre_stockin_no":"RK2004210014","result":"duplicate","state":"in_batch","error":"repeats item 1 of this batch"},{"pre_stockin_no":"RK 1","result":"invalid","state":"","error":"invalid pre_stockin_no \"RK 1\": character U+0020 at position 3 is not allowed (use letters, digits, '-', '_', '.')"}]}
}
