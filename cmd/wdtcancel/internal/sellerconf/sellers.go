package sellerconf

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wdtcancel/wdtcancel/tasks"
	"github.com/wdtcancel/wdtcancel/worker/wdt"
)

// MaxSellersFileBytes bounds the sellers file: hundreds of sellers fit in a
// few hundred kilobytes, and a larger file is a mistake (a wrong path).
const MaxSellersFileBytes = 4 << 20

// Seller is one WDT seller as workers and the sandbox use it, with every
// optional field resolved against the command's defaults. Credentials format
// themselves without the secret or the salt, so a Seller can be logged.
type Seller struct {
	Name            string
	URL             string
	Credentials     wdt.Credentials
	RatePerMinute   int
	MaxInflight     int
	ConnectionClose bool
	// ReuseConnections: the seller's calls may reuse kept-alive
	// connections (wdt.WithConnectionReuse). Off unless reuse_connections
	// or --reuse-connections says so, and never with connection_close.
	ReuseConnections bool
	// Sandbox is the seller's optional `sandbox:` block, read only by
	// `wdtcancel sandbox`; nil when the file has none.
	Sandbox *SandboxSeller
	// Qimen is the seller's order lookup from its optional `qimen:` block
	// (qimen.go); nil when the file has none: no lookup.
	Qimen *Qimen
	// Notify is the seller's own webhook from its optional `notify:`
	// block (notify.go); nil: the worker's --notify-url.
	Notify *Notify
}

// SandboxSeller is what the sandbox alone reads of a seller: its quotas and
// faults. Zero values mean the sandbox's own defaults.
type SandboxSeller struct {
	RatePerMinute    int           `yaml:"rate_per_minute"`
	MaxConcurrency   int           `yaml:"max_concurrency"`
	Latency          time.Duration `yaml:"latency"`
	ClockOffset      time.Duration `yaml:"clock_offset"`
	FailRate         float64       `yaml:"fail_rate"`
	LostResponseRate float64       `yaml:"lost_response_rate"`
	ApplyFailRate    float64       `yaml:"apply_fail_rate"`
	RedirectRate     float64       `yaml:"redirect_rate"`
	LaxJSONRate      float64       `yaml:"lax_json_rate"`
	DesyncRate       float64       `yaml:"desync_rate"`
	ExtraAnswerRate  float64       `yaml:"extra_answer_rate"`
	Unknown          string        `yaml:"unknown"` // editing | missing
	Orders           string        `yaml:"orders"`  // a file of "NO STATE" lines
	Seed             int64         `yaml:"seed"`
	// The Qimen route's faults (sandbox.QimenOptions).
	QimenOutageRate  float64 `yaml:"qimen_outage_rate"`
	QimenGarbledRate float64 `yaml:"qimen_garbled_rate"`
	QimenStaleRate   float64 `yaml:"qimen_stale_rate"`
	QimenMatch       string  `yaml:"qimen_match"` // exact | prefix
}

// Defaults fill what a seller's entry leaves out: the command's own
// --wdt-url, --rate-per-minute, --max-inflight, --reuse-connections and the
// deprecated --connection-close.
type Defaults struct {
	URL              string
	RatePerMinute    int
	MaxInflight      int
	ConnectionClose  bool
	ReuseConnections bool
}

// sellersFile is the YAML document. Unknown keys are refused, so a typo
// ("appsecret_evn") fails at start instead of leaving a seller half set up.
type sellersFile struct {
	InlineSecrets bool                   `yaml:"inline_secrets"`
	Sellers       map[string]sellerEntry `yaml:"sellers"`
}

type sellerEntry struct {
	SID              string         `yaml:"sid"`
	AppKey           string         `yaml:"appkey"`
	AppSecret        string         `yaml:"appsecret"`
	AppSecretEnv     string         `yaml:"appsecret_env"`
	AppSecretFile    string         `yaml:"appsecret_file"`
	URL              string         `yaml:"url"`
	RatePerMinute    *int           `yaml:"rate_per_minute"`
	MaxInflight      *int           `yaml:"max_inflight"`
	ConnectionClose  *bool          `yaml:"connection_close"` // deprecated: fresh connections are the default
	ReuseConnections *bool          `yaml:"reuse_connections"`
	Sandbox          *SandboxSeller `yaml:"sandbox"`
	Qimen            *qimenEntry    `yaml:"qimen"`
	Notify           *notifyEntry   `yaml:"notify"`
}

// Load reads and validates a sellers file (docs/sellers.md). Every
// problem is reported at once, each line naming the file, the seller and the
// field; no line shows a secret. lookupEnv is os.LookupEnv outside tests.
// The sellers come back sorted by name.
func Load(path string, lookupEnv func(string) (string, bool), def Defaults) ([]Seller, error) {
	raw, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("%w: sellers file %s: %v", wdt.ErrConfig, path, err)
	}
	return Parse(path, raw, lookupEnv, def)
}

// Parse is Load on the file's bytes; name is how errors call it.
func Parse(name string, raw []byte, lookupEnv func(string) (string, bool), def Defaults) ([]Seller, error) {
	var f sellersFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var problems []string
	if err := dec.Decode(&f); err != nil {
		var te *yaml.TypeError
		switch {
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("%w: sellers file %s is empty: list the sellers under `sellers:` (see docs/sellers.md)", wdt.ErrConfig, name)
		case errors.As(err, &te):
			// Wrong types and unknown keys: yaml went on with the rest, so
			// name each with its seller and field, then check the rest too.
			problems = append(problems, typeProblems(raw, te)...)
		default:
			return nil, fmt.Errorf("%w: sellers file %s is not valid YAML: %v", wdt.ErrConfig, name, err)
		}
	}
	if len(f.Sellers) == 0 && len(problems) == 0 {
		return nil, fmt.Errorf("%w: sellers file %s lists no seller: list them under `sellers:` (see docs/sellers.md)", wdt.ErrConfig, name)
	}
	names := make([]string, 0, len(f.Sellers))
	for n := range f.Sellers {
		names = append(names, n)
	}
	sort.Strings(names)

	sids := map[string]string{}
	out := make([]Seller, 0, len(names))
	for _, n := range names {
		s, errs := resolveSeller(n, f.Sellers[n], f.InlineSecrets, lookupEnv, def)
		for _, e := range errs {
			problems = append(problems, fmt.Sprintf("seller %q: %s", n, e))
		}
		if len(errs) == 0 {
			if other, dup := sids[s.Credentials.SID]; dup {
				problems = append(problems, fmt.Sprintf("seller %q: sid %q is already seller %q's: one seller per sid, or their limits and breakers would not add up", n, s.Credentials.SID, other))
			}
			sids[s.Credentials.SID] = n
			out = append(out, s)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: sellers file %s:\n  %s", wdt.ErrConfig, name, strings.Join(problems, "\n  "))
	}
	return out, nil
}

// sellerKeys are the keys a seller's entry takes, for error messages.
const sellerKeys = "sid, appkey, appsecret_env, appsecret_file, appsecret, url, rate_per_minute, max_inflight, reuse_connections, connection_close, sandbox, qimen, notify"

// typeProblems turns yaml's "line N: ..." type errors into lines that name
// the seller and the field at line N, read from the document's node tree.
func typeProblems(raw []byte, te *yaml.TypeError) []string {
	where := map[int]string{} // line -> `seller "x": field`
	var doc yaml.Node
	if yaml.Unmarshal(raw, &doc) == nil && len(doc.Content) == 1 {
		top := doc.Content[0]
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value != "sellers" {
				continue
			}
			sellers := top.Content[i+1]
			for j := 0; j+1 < len(sellers.Content); j += 2 {
				seller, entry := sellers.Content[j].Value, sellers.Content[j+1]
				where[entry.Line] = fmt.Sprintf("seller %q", seller)
				for k := 0; k+1 < len(entry.Content); k += 2 {
					key, val := entry.Content[k], entry.Content[k+1]
					label := fmt.Sprintf("seller %q: %s", seller, key.Value)
					where[key.Line], where[val.Line] = label, label
					for m := 0; m+1 < len(val.Content); m += 2 { // the sandbox: block
						sub := fmt.Sprintf("seller %q: %s.%s", seller, key.Value, val.Content[m].Value)
						where[val.Content[m].Line], where[val.Content[m+1].Line] = sub, sub
					}
				}
			}
		}
	}
	out := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		var line int
		msg := e
		if n, _ := fmt.Sscanf(e, "line %d:", &line); n == 1 {
			msg = strings.TrimSpace(e[strings.Index(e, ":")+1:])
		}
		if strings.HasPrefix(msg, "field ") && strings.Contains(msg, " not found in type ") {
			field := strings.TrimPrefix(msg[:strings.Index(msg, " not found in type ")], "field ")
			msg = fmt.Sprintf("unknown key %q", field)
			if strings.Contains(e, "sellerEntry") {
				msg += " (a seller takes " + sellerKeys + ")"
			}
			if strings.Contains(e, "qimenEntry") {
				msg += " (a qimen: block takes " + qimenKeys + ")"
			}
		}
		if w, ok := where[line]; ok {
			out = append(out, fmt.Sprintf("%s (line %d): %s", w, line, msg))
		} else {
			out = append(out, fmt.Sprintf("line %d: %s", line, msg))
		}
	}
	return out
}

// resolveSeller validates one entry and fills its defaults. It returns every
// problem it finds rather than the first.
func resolveSeller(name string, e sellerEntry, inlineOK bool, lookupEnv func(string) (string, bool), def Defaults) (Seller, []string) {
	var errs []string
	if err := tasks.ValidateSeller(name); err != nil {
		errs = append(errs, fmt.Sprintf("bad name: %s", strings.TrimPrefix(err.Error(), tasks.ErrInvalid.Error()+" ")))
	}
	appSecret, where, secretErr := sellerSecret(e, inlineOK, lookupEnv)
	if secretErr != "" {
		errs = append(errs, secretErr)
	}
	s := Seller{Name: name, URL: cmp.Or(strings.TrimSpace(e.URL), def.URL), Sandbox: e.Sandbox}
	var qerrs, nerrs []string
	s.Qimen, qerrs = resolveQimen(e.Qimen, inlineOK, lookupEnv)
	s.Notify, nerrs = resolveNotify(e.Notify, lookupEnv)
	errs = append(append(errs, qerrs...), nerrs...)
	errs = append(errs, s.applyLimits(e, def)...)
	if msg := sellerURLProblem(s.URL); msg != "" {
		errs = append(errs, msg)
	}
	creds, msg := sellerCredentials(e, appSecret, where, secretErr == "")
	if msg != "" {
		errs = append(errs, msg)
	}
	s.Credentials = creds
	return s, errs
}

// applyLimits sets the seller's rate, in-flight bound and connection
// handling: the entry's value where it gives one, else the flag's default
// (def). Connection reuse is off whenever connection_close is on. A
// negative bound is a problem, not a default: it cannot be meant.
func (s *Seller) applyLimits(e sellerEntry, def Defaults) []string {
	s.RatePerMinute = valueOr(e.RatePerMinute, def.RatePerMinute)
	s.MaxInflight = valueOr(e.MaxInflight, def.MaxInflight)
	s.ConnectionClose = valueOr(e.ConnectionClose, def.ConnectionClose)
	s.ReuseConnections = valueOr(e.ReuseConnections, def.ReuseConnections) && !s.ConnectionClose
	var errs []string
	if s.RatePerMinute < 0 {
		errs = append(errs, fmt.Sprintf("rate_per_minute is %d: use 0 (no limit) or more", s.RatePerMinute))
	}
	if s.MaxInflight < 0 {
		errs = append(errs, fmt.Sprintf("max_inflight is %d: use 0 (no limit) or more", s.MaxInflight))
	}
	return errs
}

// valueOr is *p when the entry gives the key (p not nil), else def: an
// explicit zero or false in the file wins over the flag's default.
func valueOr[T any](p *T, def T) T {
	if p != nil {
		return *p
	}
	return def
}

// sellerURLProblem says what is wrong with a seller's resolved URL, or "".
func sellerURLProblem(url string) string {
	if url == "" {
		return fmt.Sprintf("url is not set and there is no --wdt-url / WDT_URL default: %s (test) or %s (production)", wdt.TestURL, wdt.ProductionURL)
	}
	if _, err := wdt.ParseEndpoint(url); err != nil {
		return fmt.Sprintf("url: %s", strings.TrimPrefix(err.Error(), wdt.ErrConfig.Error()+": "))
	}
	return ""
}

// sellerCredentials builds the seller's WDT credentials, or says the first
// thing missing. Without a usable secret (haveSecret false: that problem is
// already reported) only sid and appkey are checked. where names the
// secret's source, which the message gives instead of WDT_APPSECRET.
func sellerCredentials(e sellerEntry, appSecret, where string, haveSecret bool) (wdt.Credentials, string) {
	switch {
	case strings.TrimSpace(e.SID) == "":
		return wdt.Credentials{}, "sid is empty: set it to the seller account WDT assigned"
	case strings.TrimSpace(e.AppKey) == "":
		return wdt.Credentials{}, "appkey is empty: set it to the appkey WDT assigned"
	case !haveSecret:
		return wdt.Credentials{}, ""
	}
	creds, err := wdt.NewCredentials(e.SID, e.AppKey, appSecret)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), wdt.ErrConfig.Error()+": ")
		msg = strings.ReplaceAll(msg, "WDT_APPSECRET (or --appsecret)", where)
		msg = strings.ReplaceAll(msg, "set WDT_APPSECRET or --appsecret", "set "+where)
		return creds, msg
	}
	return creds, ""
}

// sellerSecret finds the appsecret of one entry: exactly one of
// appsecret_env and appsecret_file, or an inline appsecret when the file
// allows it. where names the source for error messages, never the value.
func sellerSecret(e sellerEntry, inlineOK bool, lookupEnv func(string) (string, bool)) (secret, where, problem string) {
	set := 0
	for _, v := range []string{e.AppSecret, e.AppSecretEnv, e.AppSecretFile} {
		if v != "" {
			set++
		}
	}
	switch {
	case set == 0:
		return "", "", "no appsecret: set appsecret_env (a variable holding secret:salt) or appsecret_file (a file holding it)"
	case set > 1:
		return "", "", "more than one of appsecret, appsecret_env and appsecret_file: keep one"
	case e.AppSecret != "" && !inlineOK:
		return "", "", "appsecret is written in the file: move it to a variable (appsecret_env) or a file (appsecret_file), or, for a sandbox or test file only, put `inline_secrets: true` at the top"
	case e.AppSecret != "":
		return e.AppSecret, "the inline appsecret", ""
	case e.AppSecretEnv != "":
		where := "appsecret_env " + e.AppSecretEnv
		v, ok := lookupEnv(e.AppSecretEnv)
		switch {
		case !ok:
			return "", where, fmt.Sprintf("appsecret_env %s is not set: export it as secret:salt", e.AppSecretEnv)
		case strings.TrimSpace(v) == "":
			return "", where, fmt.Sprintf("appsecret_env %s is set but blank (empty or only white space): export the appsecret in it as secret:salt", e.AppSecretEnv)
		}
		return v, where, ""
	default:
		where := "appsecret_file " + e.AppSecretFile
		v, err := firstLine(e.AppSecretFile)
		if err != nil {
			return "", where, fmt.Sprintf("appsecret_file: %v", err)
		}
		return v, where, ""
	}
}

// firstLine reads the first line of a secret file. The error never holds the
// content.
func firstLine(path string) (string, error) {
	raw, err := readLimited(path)
	if err != nil {
		return "", err
	}
	line, _, _ := bufio.NewReader(bytes.NewReader(raw)).ReadLine()
	if strings.TrimSpace(string(line)) == "" {
		return "", fmt.Errorf("%s: the first line is empty: write secret:salt on it", path)
	}
	return string(line), nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, MaxSellersFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(raw) > MaxSellersFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes: is it the right file?", path, MaxSellersFileBytes)
	}
	return raw, nil
}

// SellersFileConflict refuses the single-seller settings beside a sellers
// file: two sources for one seller's credentials would leave it unclear which
// one a task is sent with.
func (w *WDT) SellersFileConflict() error {
	var set []string
	for _, m := range []struct{ v, name string }{{w.SID, "WDT_SID (--sid)"}, {w.AppKey, "WDT_APPKEY (--appkey)"}, {w.AppSecret, "WDT_APPSECRET (--appsecret)"}} {
		if strings.TrimSpace(m.v) != "" {
			set = append(set, m.name)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return fmt.Errorf("%w: a sellers file is given and so is %s: put that seller in the file as `default` and unset them",
		wdt.ErrConfig, strings.Join(set, ", "))
}
