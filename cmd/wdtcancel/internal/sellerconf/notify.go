package sellerconf

import (
	"fmt"
	"net/url"
	"strings"
)

// Notify is a seller's own webhook for its outcome events, from the
// optional `notify:` block of the sellers file: it replaces the worker's
// --notify-url and WDTCANCEL_NOTIFY_SECRET for that seller. String hides
// the secret, so a Notify can be logged.
type Notify struct {
	URL    string
	Secret []byte
}

func (n Notify) String() string { return "notify " + n.URL + " (secret set)" }

// notifyEntry is the `notify:` block as written: the secret comes from a
// variable or a file, never from the sellers file itself.
type notifyEntry struct {
	URL        string `yaml:"url"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
}

// resolveNotify reads a seller's `notify:` block; nil when there is none.
func resolveNotify(e *notifyEntry, lookupEnv func(string) (string, bool)) (*Notify, []string) {
	if e == nil {
		return nil, nil
	}
	var errs []string
	u, err := url.Parse(strings.TrimSpace(e.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, "notify: url is not an http(s) URL: give the receiver's full address, e.g. https://erp.example.com/wdtcancel/events")
	}
	var secret string
	switch {
	case (e.SecretEnv == "") == (e.SecretFile == ""):
		errs = append(errs, "notify: set one of secret_env (a variable holding the webhook secret) and secret_file (a file holding it)")
	case e.SecretEnv != "":
		v, ok := lookupEnv(e.SecretEnv)
		if !ok || strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Sprintf("notify: secret_env %s is not set: export the webhook secret in it", e.SecretEnv))
		}
		secret = strings.TrimSpace(v)
	default:
		v, err := firstLine(e.SecretFile)
		if err != nil || v == "" {
			errs = append(errs, fmt.Sprintf("notify: secret_file %s: cannot read a secret from its first line (%v)", e.SecretFile, err))
		}
		secret = v
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return &Notify{URL: strings.TrimSpace(e.URL), Secret: []byte(secret)}, nil
}
