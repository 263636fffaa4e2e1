package main

import (
	"fmt"
	"strings"

	"github.com/wdtcancel/wdtcancel/cmd/wdtcancel/internal/sellerconf"
	"github.com/wdtcancel/wdtcancel/worker"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/qimen"
)

// lookupConfig is the lookup client's configuration for a seller whose
// cancel client is api: the lookup signs wdt_sign with the same WDT
// credentials, and shares the cancel client's clock (one offset learned
// from both routes' Date headers), with an HTTP client of its own.
func lookupConfig(q *sellerconf.Qimen, api *wdt.Client) qimen.Config {
	return qimen.Config{URL: q.URL, Qimen: qimen.Credentials(q.Credentials), WDT: api.Credentials(),
		HTTP: wdt.NewHTTPClient(), Clock: api.Clock()}
}

// lookupFor builds a seller's lookup; nil (and no error) when the seller
// has no qimen settings. The nil is returned as a worker.Looker only when
// there is a client: a nil *qimen.Client in the interface would look like
// a lookup.
func lookupFor(name string, q *sellerconf.Qimen, api *wdt.Client) (worker.Looker, error) {
	if q == nil {
		return nil, nil
	}
	c, err := qimen.New(lookupConfig(q, api))
	if err != nil {
		return nil, fmt.Errorf("seller %q: order lookup: %w", name, err)
	}
	return c, nil
}

// qimenFlagsConflict refuses the --qimen-* settings next to a sellers file:
// each seller's lookup is its qimen: block there.
func qimenFlagsConflict(q sellerconf.QimenFlags) error {
	var set []string
	for _, m := range []struct{ v, name string }{{q.URL, "WDT_QIMEN_URL (--qimen-url)"}, {q.AppKey, "WDT_QIMEN_APPKEY (--qimen-appkey)"},
		{q.AppSecret, "WDT_QIMEN_APPSECRET (--qimen-appsecret)"}, {q.TargetAppKey, "WDT_QIMEN_TARGET_APPKEY (--qimen-target-appkey)"}} {
		if strings.TrimSpace(m.v) != "" {
			set = append(set, m.name)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return fmt.Errorf("%w: a sellers file is given and so is %s: give each seller its lookup in a qimen: block of the file (docs/qimen.md) and unset them",
		wdt.ErrConfig, strings.Join(set, ", "))
}
