package wdt

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrConfig is wrapped by every configuration error of this package, so
// callers can tell "fix your settings" from "try again later" with errors.Is.
var ErrConfig = errors.New("wdt configuration error")

// Credentials are the four values WDT hands an integrator. Secret and Salt are
// the two halves of the appsecret. The type formats itself without them, so a
// Credentials value can be logged or wrapped into an error safely.
type Credentials struct {
	SID    string
	AppKey string
	Secret string
	Salt   string
}

// NewCredentials validates sid and appkey and splits appsecret ("secret:salt",
// at the first colon). Errors name the missing part but never echo the secret.
func NewCredentials(sid, appKey, appSecret string) (Credentials, error) {
	sid, appKey = strings.TrimSpace(sid), strings.TrimSpace(appKey)
	if sid == "" {
		return Credentials{}, fmt.Errorf("%w: sid is empty: set WDT_SID or --sid to the seller account WDT assigned", ErrConfig)
	}
	if appKey == "" {
		return Credentials{}, fmt.Errorf("%w: appkey is empty: set WDT_APPKEY or --appkey", ErrConfig)
	}
	secret, salt, err := SplitAppSecret(appSecret)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{SID: sid, AppKey: appKey, Secret: secret, Salt: salt}, nil
}

// SplitAppSecret splits a WDT appsecret into its secret and salt parts at the
// first colon, as the vendor documents ("testsecret:testsalt"). White space
// around the whole value is trimmed (an env file's trailing newline); white
// space, a control character or an invisible one (a zero-width space or a
// byte-order mark pasted from a web page) inside it is refused, never signed
// with.
func SplitAppSecret(appSecret string) (secret, salt string, err error) {
	appSecret = strings.TrimSpace(appSecret)
	if appSecret == "" {
		return "", "", fmt.Errorf("%w: appsecret is empty: set WDT_APPSECRET or --appsecret to the value WDT assigned, in the form secret:salt", ErrConfig)
	}
	secret, salt, ok := strings.Cut(appSecret, ":")
	switch {
	case HasUnprintable(appSecret):
		// Signed as given, a secret with a tab or a space around the colon
		// (pasted with it) fails every call with a signature error that
		// does not point here.
		return "", "", fmt.Errorf("%w: appsecret holds white space, a control or an invisible character (a tab, a space around the colon, a line break, a zero-width space U+200B, a byte-order mark U+FEFF) inside it: WDT appsecrets have none, copy WDT_APPSECRET (or --appsecret) again as secret:salt; white space around the whole value is trimmed", ErrConfig)
	case !ok:
		return "", "", fmt.Errorf("%w: appsecret has no colon (%d characters): WDT_APPSECRET (or --appsecret) must be secret:salt, copy it whole from the WDT open platform", ErrConfig, len(appSecret))
	case secret == "":
		return "", "", fmt.Errorf("%w: appsecret has an empty secret part before the colon: WDT_APPSECRET (or --appsecret) must be secret:salt", ErrConfig)
	case salt == "":
		return "", "", fmt.Errorf("%w: appsecret has an empty salt part after the colon: WDT_APPSECRET (or --appsecret) must be secret:salt", ErrConfig)
	}
	return secret, salt, nil
}

// unprintable is a rune no WDT or Qimen secret holds: white space, a
// control character, anything unicode.IsPrint refuses (format characters
// such as U+200B ZERO WIDTH SPACE and U+FEFF, which copy along unseen and
// make every signature wrong) and the replacement rune of invalid UTF-8.
func unprintable(r rune) bool {
	return unicode.IsSpace(r) || !unicode.IsPrint(r) || r == utf8.RuneError
}

// HasUnprintable says s holds a character that is not a printable,
// non-space one (see unprintable), for the checks of every secret (the WDT
// and the Qimen appsecret).
func HasUnprintable(s string) bool { return strings.IndexFunc(s, unprintable) >= 0 }

// String shows which account this is without the secret or the salt.
func (c Credentials) String() string {
	return fmt.Sprintf("wdt.Credentials{sid=%q appkey=%q appsecret=[REDACTED]}", c.SID, c.AppKey)
}

// GoString keeps %#v from printing the fields one by one.
func (c Credentials) GoString() string { return c.String() }

// Redact replaces the secret and the salt in s, raw and in every encoding a
// server might echo them in (query- and path-escaped, HTML- and
// JSON-escaped), and anything shaped like a signed query string or a
// sign=/salt= parameter, with Redacted. It is the last line of defence for
// text that came from outside (a response body that might echo a parameter)
// before it goes into an error or a log line. A Client's errors are already
// scrubbed this way, and of the signature and query string of the request
// too. Values shorter than four bytes are not replaced.
func (c Credentials) Redact(s string) string {
	return newRedactor(c.Secret, c.Salt).redact(s)
}
