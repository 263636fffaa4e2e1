package config

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/qimen"
)

// Qimen is one seller's order lookup on the Qimen route (issue 22): the
// gateway URL and the Qimen app. A seller without it has no lookup, and
// everything works as before. Credentials format themselves without the
// secret, so a Qimen can be logged.
type Qimen struct {
	URL         string
	Credentials qimen.Credentials
}

// LookupConfig is the lookup client's configuration for a seller whose WDT
// credentials are creds (the lookup signs wdt_sign with them).
func (q *Qimen) LookupConfig(creds wdt.Credentials) qimen.Config {
	return qimen.Config{URL: q.URL, Qimen: q.Credentials, WDT: creds}
}

// QimenFlags are the single-seller lookup settings: --qimen-url,
// --qimen-appkey, --qimen-appsecret, --qimen-target-appkey, or
// WDT_QIMEN_URL, WDT_QIMEN_APPKEY, WDT_QIMEN_APPSECRET,
// WDT_QIMEN_TARGET_APPKEY (config.EnvName).
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
	if _, err := qimen.ParseURL(rawURL); err != nil {
		return nil, err
	}
	creds, err := qimen.NewCredentials(appKey, appSecret, target)
	if err != nil {
		return nil, err
	}
	return &Qimen{URL: strings.TrimSpace(rawURL), Credentials: creds}, nil
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
