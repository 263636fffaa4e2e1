package sellerconf

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/pflag"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// Qimen is one seller's order lookup on the Qimen route (issue 22): the
// gateway URL and the Qimen app, as plain values. A seller without it has
// no lookup, and everything works as before. Credentials format themselves
// without the secret, so a Qimen can be logged. cmd/wdtcancel turns it into
// the lookup client (worker/wdt/qimen), which checks it again: sellerconf only
// parses, it builds no client.
type Qimen struct {
	URL         string
	Credentials QimenCredentials
}

// QimenCredentials are the Qimen app's key and secret and WDT's app key on
// Qimen (target_app_key), the fields of qimen.Credentials.
type QimenCredentials struct {
	AppKey       string
	AppSecret    string
	TargetAppKey string
}

// String shows which app this is without the secret.
func (c QimenCredentials) String() string {
	return fmt.Sprintf("sellerconf.QimenCredentials{appkey=%q target_appkey=%q appsecret=[REDACTED]}", c.AppKey, c.TargetAppKey)
}

// GoString keeps %#v from printing the fields one by one.
func (c QimenCredentials) GoString() string { return c.String() }

// QimenFlags are the single-seller lookup settings: --qimen-url,
// --qimen-appkey, --qimen-appsecret, --qimen-target-appkey, or
// WDT_QIMEN_URL, WDT_QIMEN_APPKEY, WDT_QIMEN_APPSECRET,
// WDT_QIMEN_TARGET_APPKEY (config.EnvNameFor).
type QimenFlags struct {
	URL, AppKey, AppSecret, TargetAppKey string
}

// AddFlags registers the four flags.
func (q *QimenFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&q.URL, "qimen-url", "", "Qimen gateway URL for the order lookup (env WDT_QIMEN_URL); unset: no lookup")
	fs.StringVar(&q.AppKey, "qimen-appkey", "", "Qimen app key (env WDT_QIMEN_APPKEY)")
	fs.StringVar(&q.AppSecret, "qimen-appsecret", "", "Qimen app secret (env WDT_QIMEN_APPSECRET; prefer the env var: flags show in ps)")
	fs.StringVar(&q.TargetAppKey, "qimen-target-appkey", "", "WDT's app key on Qimen, target_app_key (env WDT_QIMEN_TARGET_APPKEY)")
}

// qimenNames name the settings in errors, in the order of QimenFlags.
var qimenNames = [4]string{"WDT_QIMEN_URL (--qimen-url)", "WDT_QIMEN_APPKEY (--qimen-appkey)",
	"WDT_QIMEN_APPSECRET (--qimen-appsecret)", "WDT_QIMEN_TARGET_APPKEY (--qimen-target-appkey)"}

// Resolve validates the settings: none set is no lookup (nil, nil); some
// but not all set is an error naming what is missing (a half-configured
// lookup must not silently turn itself off); all set are checked. No error
// shows the secret.
func (q QimenFlags) Resolve() (*Qimen, error) {
	vals := [4]string{q.URL, q.AppKey, q.AppSecret, q.TargetAppKey}
	var set, missing []string
	for i, v := range vals {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, qimenNames[i])
		} else {
			set = append(set, qimenNames[i])
		}
	}
	switch {
	case len(set) == 0:
		return nil, nil
	case len(missing) > 0:
		return nil, fmt.Errorf("%w: the Qimen lookup is half configured: %s set but %s missing; set all four, or none to run without the lookup (see docs/qimen.md)",
			wdt.ErrConfig, strings.Join(set, ", "), strings.Join(missing, ", "))
	}
	return newQimen(q.URL, q.AppKey, q.AppSecret, q.TargetAppKey)
}

func newQimen(rawURL, appKey, appSecret, target string) (*Qimen, error) {
	if err := checkQimenURL(rawURL); err != nil {
		return nil, err
	}
	creds := QimenCredentials{AppKey: strings.TrimSpace(appKey), AppSecret: strings.TrimSpace(appSecret), TargetAppKey: strings.TrimSpace(target)}
	switch {
	case creds.AppKey == "":
		return nil, fmt.Errorf("%w: Qimen appkey is empty: set WDT_QIMEN_APPKEY or --qimen-appkey to the Qimen app's key", wdt.ErrConfig)
	case creds.AppSecret == "":
		return nil, fmt.Errorf("%w: Qimen appsecret is empty: set WDT_QIMEN_APPSECRET or --qimen-appsecret to the Qimen app's secret", wdt.ErrConfig)
	case creds.TargetAppKey == "":
		return nil, fmt.Errorf("%w: Qimen target appkey is empty: set WDT_QIMEN_TARGET_APPKEY or --qimen-target-appkey to WDT's app key on Qimen", wdt.ErrConfig)
	}
	return &Qimen{URL: strings.TrimSpace(rawURL), Credentials: creds}, nil
}

// checkQimenURL is qimen.ParseURL's rule, with its messages: an http(s)
// URL with a host and no query, fragment or user info; any path.
func checkQimenURL(raw string) error {
	hint := "set WDT_QIMEN_URL or --qimen-url to the Qimen gateway URL of the Qimen console (for the sandbox, http://HOST:PORT/router/qm)"
	s := strings.TrimSpace(raw)
	if s == "" {
		return fmt.Errorf("%w: Qimen URL is empty: %s", wdt.ErrConfig, hint)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: Qimen URL is not an http(s) URL: %s", wdt.ErrConfig, hint)
	}
	if u.RawQuery != "" || u.ForceQuery || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%w: Qimen URL must carry no query, fragment or user info: %s", wdt.ErrConfig, hint)
	}
	return nil
}

// qimenEntry is a seller's `qimen:` block in the sellers file. The secret
// comes, as the appsecret's, from exactly one of appsecret_env,
// appsecret_file, or (with inline_secrets: true) appsecret.
type qimenEntry struct {
	URL           string `yaml:"url"`
	AppKey        string `yaml:"appkey"`
	AppSecret     string `yaml:"appsecret"`
	AppSecretEnv  string `yaml:"appsecret_env"`
	AppSecretFile string `yaml:"appsecret_file"`
	TargetAppKey  string `yaml:"target_appkey"`
}

// qimenKeys are the keys a qimen: block takes, for error messages.
const qimenKeys = "url, appkey, appsecret_env, appsecret_file, appsecret, target_appkey"

// resolveQimen validates a seller's qimen: block; nil block, nil lookup.
// It returns every problem it finds, each prefixed "qimen.".
func resolveQimen(e *qimenEntry, inlineOK bool, lookupEnv func(string) (string, bool)) (*Qimen, []string) {
	if e == nil {
		return nil, nil
	}
	var errs []string
	if strings.TrimSpace(e.URL) == "" {
		errs = append(errs, "qimen.url is empty: set it to the Qimen gateway URL")
	}
	if strings.TrimSpace(e.AppKey) == "" {
		errs = append(errs, "qimen.appkey is empty: set it to the Qimen app's key")
	}
	if strings.TrimSpace(e.TargetAppKey) == "" {
		errs = append(errs, "qimen.target_appkey is empty: set it to WDT's app key on Qimen")
	}
	secret, _, problem := sellerSecret(sellerEntry{AppSecret: e.AppSecret, AppSecretEnv: e.AppSecretEnv, AppSecretFile: e.AppSecretFile}, inlineOK, lookupEnv)
	if problem != "" {
		// sellerSecret speaks of the WDT appsecret (secret:salt); the Qimen
		// secret is one string.
		problem = strings.ReplaceAll(problem, " as secret:salt", "")
		problem = strings.ReplaceAll(problem, " (a variable holding secret:salt)", " (a variable holding the Qimen app secret)")
		problem = strings.ReplaceAll(problem, " (a file holding it)", " (a file holding the Qimen app secret)")
		problem = strings.ReplaceAll(problem, "write secret:salt on it", "write the Qimen app secret on it")
		errs = append(errs, "qimen: "+problem)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	q, err := newQimen(e.URL, e.AppKey, secret, e.TargetAppKey)
	if err != nil {
		return nil, []string{"qimen: " + strings.TrimPrefix(err.Error(), wdt.ErrConfig.Error()+": ")}
	}
	return q, nil
}
