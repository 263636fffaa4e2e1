package main

import (
	"strconv"
	"testing"

	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker"
)

// TestOneRetryBudget: producers gave tasks MaxRetry 25 while the worker
// stopped at --max-retry 20, so status showed "of 25" for a budget of 20.
// One number, tasks.DefaultMaxRetry, is both.
func TestOneRetryBudget(t *testing.T) {
	if worker.DefaultMaxRetry != tasks.DefaultMaxRetry {
		t.Fatalf("worker.DefaultMaxRetry %d, tasks.DefaultMaxRetry %d", worker.DefaultMaxRetry, tasks.DefaultMaxRetry)
	}
	wk, _, err := newRoot().Find([]string{"worker"})
	if err != nil {
		t.Fatal(err)
	}
	if got := wk.Flags().Lookup("max-retry").DefValue; got != strconv.Itoa(tasks.DefaultMaxRetry) {
		t.Fatalf("worker --max-retry defaults to %s, tasks to %d", got, tasks.DefaultMaxRetry)
	}
}
