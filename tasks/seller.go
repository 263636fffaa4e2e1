package tasks

import (
	"fmt"
	"strings"
)

// DefaultSeller is the seller of every task that names none: the single
// seller configured by WDT_SID / WDT_APPKEY / WDT_APPSECRET, or the seller
// called "default" in a sellers file. Its queue is the base queue itself, so
// a single-seller deployment and the tasks it queued before sellers existed
// are untouched.
const DefaultSeller = "default"

// MaxSellerLength bounds a seller name: it appears in queue names, Redis
// keys, metric labels and asynqmon, so it is short and safe everywhere.
const MaxSellerLength = 32

// sellerQueueSep joins the base queue and a seller name. A seller name never
// contains it, so a queue name maps back to one seller.
const sellerQueueSep = ":"

// ValidateSeller checks a seller name: 1-32 lower-case letters, digits, '-'
// and '_', starting with a letter or a digit. The error names the problem.
func ValidateSeller(name string) error {
	bad := func(reason string) error {
		return fmt.Errorf("%w seller %q: %s", ErrInvalid, clip(name), reason)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxSellerLength:
		return bad(fmt.Sprintf("longer than %d characters", MaxSellerLength))
	}
	for i, r := range name {
		lowerOrDigit := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if i == 0 && !lowerOrDigit {
			return bad("must start with a lower-case letter or a digit")
		}
		if !lowerOrDigit && r != '-' && r != '_' {
			return bad(fmt.Sprintf("character %U at position %d is not allowed (use a-z, 0-9, '-', '_')", r, i+1))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// QueueFor is the asynq queue of a seller's tasks: the base queue itself for
// DefaultSeller, "<base>:<seller>" for any other (docs/sellers.md says why a
// queue per seller).
func QueueFor(base, seller string) string {
	if seller == "" || seller == DefaultSeller {
		return base
	}
	return base + sellerQueueSep + seller
}

// SellerOfQueue maps a queue back to its seller: DefaultSeller for the base
// queue, the seller for "<base>:<seller>", and ok=false for a queue that is
// neither (another application's, or a malformed name).
func SellerOfQueue(base, queue string) (seller string, ok bool) {
	if queue == base {
		return DefaultSeller, true
	}
	name, found := strings.CutPrefix(queue, base+sellerQueueSep)
	if !found || ValidateSeller(name) != nil || name == DefaultSeller {
		return "", false
	}
	return name, true
}

// ValidateBaseQueue checks a base queue name (--queue): not empty, and
// without ':' (which joins it to a seller's name, so "wdt-cancel:acme" as a
// base would make seller queues no one maps back), braces (they would break
// the {queue} hash tag every key carries) or white space.
func ValidateBaseQueue(q string) error {
	switch {
	case q == "":
		return fmt.Errorf("%w queue: empty: leave --queue at %s unless several deployments share one Redis", ErrInvalid, DefaultQueue)
	case strings.Contains(q, sellerQueueSep):
		base, seller, _ := strings.Cut(q, sellerQueueSep)
		return fmt.Errorf("%w queue %q: ':' joins a base queue to a seller's name: give --queue %s --seller %s instead", ErrInvalid, clip(q), base, seller)
	case strings.ContainsAny(q, "{} \t\r\n"):
		return fmt.Errorf("%w queue %q: braces and white space are not allowed (the queue's name is the hash tag of its Redis keys)", ErrInvalid, clip(q))
	}
	return nil
}
