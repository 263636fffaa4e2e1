package sellerconf

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// WDT holds the API flags.
type WDT struct {
	URL, SID, AppKey, AppSecret string
	// ReuseConnections lets calls share kept-alive connections
	// (wdt.WithConnectionReuse, which says what it risks); off by default.
	ReuseConnections bool
	// ConnectionClose is the deprecated --connection-close: a fresh
	// connection per call is the default now; set, it overrides
	// ReuseConnections.
	ConnectionClose bool
}

// AddFlags registers --wdt-url, --sid, --appkey and --appsecret.
func (w *WDT) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&w.URL, "wdt-url", "", "WDT open API URL (env WDT_URL): "+wdt.TestURL+" (test) or "+wdt.ProductionURL+" (production)")
	fs.StringVar(&w.SID, "sid", "", "WDT seller account (env WDT_SID)")
	fs.StringVar(&w.AppKey, "appkey", "", "WDT appkey (env WDT_APPKEY)")
	fs.StringVar(&w.AppSecret, "appsecret", "", "WDT appsecret secret:salt (env WDT_APPSECRET; prefer the env var: flags show in ps)")
	fs.BoolVar(&w.ReuseConnections, "reuse-connections", false, "let WDT calls reuse kept-alive connections (one handshake saved per call); off by default: behind a gateway that answers late or twice on one connection, a call can read another call's answer (README, Outcomes)")
	fs.BoolVar(&w.ConnectionClose, "connection-close", false, "deprecated: a fresh connection per call is the default; overrides --reuse-connections")
	_ = fs.MarkDeprecated("connection-close", "a fresh connection per call is the default now; drop it (it only overrides --reuse-connections)")
}

// Reuse reports whether calls may reuse connections: --reuse-connections,
// unless the deprecated --connection-close says otherwise.
func (w *WDT) Reuse() bool { return w.ReuseConnections && !w.ConnectionClose }

// Client validates the settings and builds the API client. The error names
// every missing variable at once and never prints the secret.
func (w *WDT) Client(opts ...wdt.Option) (*wdt.Client, error) {
	creds, err := w.credentials()
	if err != nil {
		return nil, err
	}
	if w.Reuse() {
		opts = append(opts, wdt.WithConnectionReuse())
	}
	return wdt.New(w.URL, creds, opts...)
}

// credentials checks that every setting is there and splits the appsecret.
func (w *WDT) credentials() (wdt.Credentials, error) {
	var missing []string
	for _, m := range []struct{ v, name string }{{w.URL, "WDT_URL (--wdt-url)"}, {w.SID, "WDT_SID (--sid)"}, {w.AppKey, "WDT_APPKEY (--appkey)"}, {w.AppSecret, "WDT_APPSECRET (--appsecret)"}} {
		if strings.TrimSpace(m.v) == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return wdt.Credentials{}, fmt.Errorf("%w: missing %s; the URL is %s (test) or %s (production); for the sandbox use sid, appkey and appsecret sandbox / sandbox / sandbox:sandbox",
			wdt.ErrConfig, strings.Join(missing, ", "), wdt.TestURL, wdt.ProductionURL)
	}
	return wdt.NewCredentials(w.SID, w.AppKey, w.AppSecret)
}
