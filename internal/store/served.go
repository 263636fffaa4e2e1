package store

import (
	"fmt"

	"github.com/hibiken/asynq"
)

// ServedNow are the queues some live worker fetches from now: the queue
// lists of asynq's server heartbeats, which a running worker writes every
// 5 s, which it deletes when it stops cleanly and which lapse 10 s after it
// dies. This, not the day-long
// announcement (Announce), decides what is a stray: a queue with tasks and
// no live worker (`wdtcancel strays`, /readyz's unknown_sellers,
// wdtcancel_unknown_seller_queues). The announcement only decides which
// sellers producers accept, so a seller stays accepted through a restart
// or an outage, while its tasks count as strays as soon as no worker runs
// for it.
func ServedNow(insp *asynq.Inspector) (map[string]bool, error) {
	servers, err := insp.Servers()
	if err != nil {
		return nil, fmt.Errorf("list the running workers (asynq servers): %w", err)
	}
	served := map[string]bool{}
	for _, srv := range servers {
		for q := range srv.Queues {
			served[q] = true
		}
	}
	return served, nil
}
