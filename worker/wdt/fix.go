package wdt

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The fixes of the configuration faults that are not a WDT status: the
// request never reached the API, or reached something that is not the API.
const (
	fixRedirect = "wdtcancel never follows redirects; set WDT_URL to the final URL"
	fixNotAPI   = "the WDT_URL path does not serve the API: it must end in /openapi (test " + TestURL + ", production " + ProductionURL + ")"
	fixTLS      = "the TLS certificate of the WDT endpoint did not verify: check WDT_URL's host, or use the http:// URL the vendor documents (" + ProductionURL + "); if the host is right, this machine may lack CA certificates"
	fixNoTLS    = "the WDT endpoint answered plain HTTP to an https:// URL: use the http:// URL the vendor documents (" + ProductionURL + ")"
	fixBug      = "wdtcancel could not build the request: report this as a wdtcancel bug"
	fixGeneric  = "check WDT_URL, WDT_SID, WDT_APPKEY and WDT_APPSECRET"
)

// Fix names what an operator must change to clear a configuration fault
// (Category Config), or "" for any other category. A configuration fault
// cannot heal by itself, so the worker holds the task and logs this once.
func (e *Error) Fix() string {
	if e == nil || e.Category != Config {
		return ""
	}
	if e.Status != NoStatus {
		return statusFix(e.Method, e.Status, strings.TrimSpace(e.Message))
	}
	switch {
	case e.HTTPStatus >= 300 && e.HTTPStatus <= 399:
		return fixRedirect
	case e.HTTPStatus == http.StatusNotFound || e.HTTPStatus == http.StatusMethodNotAllowed:
		return fixNotAPI
	case tlsVerifyFailed(e.Err):
		return fixTLS
	case errors.Is(e.Err, http.ErrSchemeMismatch):
		return fixNoTLS
	}
	return fixBug
}

// Fix splits err into the fault (what went wrong, for one log line) and the
// fix (what to change). For an error that is not a configuration fault fix
// is "". An error that is not an *Error (e.g. ErrConfig from NewCredentials
// or ParseEndpoint, whose text already names the fix) gets a generic fix.
func Fix(err error) (fault, fix string) {
	if err == nil {
		return "", ""
	}
	var e *Error
	if !errors.As(err, &e) {
		return err.Error(), fixGeneric
	}
	if e.Status != NoStatus {
		fault = fmt.Sprintf("status %d %s", e.Status, strings.TrimSpace(e.Message))
	} else {
		fault = e.Message
		if e.Err != nil {
			fault += ": " + e.Err.Error()
		}
	}
	return fault, e.Fix()
}

// statusFix is the fix for a WDT status that means a configuration fault,
// from the vendor's status table (docs/wdt-api.md, "Statuses").
func statusFix(method string, status int, msg string) string {
	switch status {
	case 1:
		return authFix(msg)
	case 100:
		return "the appkey is not granted " + cmp.Or(method, MethodCancelPreStockin) + ": request the permission on the WDT open platform"
	}
	if fix, ok := statusFixes[status]; ok {
		return fix
	}
	return "check the WDT settings"
}

// statusFixes are the fixes of the statuses that mean one thing each,
// whatever their message says.
var statusFixes = map[int]string{
	2: "WDT does not know a parameter name: report this as a wdtcancel bug",
	3: "the account has a dynamic password (OTP) set: ask WDT to disable it for the API account",
	6: "this machine's IP is not on the WDT whitelist: add the worker's public IP on the WDT open platform",
	8: "WDT refused the API version: report this as a wdtcancel bug",
}

// authFix is status 1's fix. WDT answers status 1 for every parameter and
// authentication fault, so only its message says which setting is wrong.
func authFix(msg string) string {
	switch {
	case strings.Contains(msg, "sid is not exists") || strings.Contains(msg, "sid is not found"):
		return "the sid belongs to the other WDT environment: check WDT_URL (test " + TestURL + ", production " + ProductionURL + ") and WDT_SID"
	case strings.Contains(msg, "验证失败"):
		return "WDT rejected the signature: check WDT_APPSECRET (secret:salt, copied whole) and WDT_APPKEY"
	case strings.Contains(msg, "app auth fail"):
		return "WDT rejected the appkey: check WDT_APPKEY and that it belongs to this sid"
	case strings.Contains(msg, "For input string"):
		return "WDT could not parse a parameter (usually the timestamp): report this as a wdtcancel bug"
	}
	return "parameter or authentication failure: check WDT_SID, WDT_APPKEY and WDT_APPSECRET"
}

// tlsVerifyFailed reports whether err is a failed certificate verification:
// a wrong host, an unknown authority or an invalid certificate. None of these
// heals by retrying.
func tlsVerifyFailed(err error) bool {
	if err == nil {
		return false
	}
	var (
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
	)
	return errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}
