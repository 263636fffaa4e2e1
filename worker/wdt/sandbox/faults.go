package sandbox

import (
	"fmt"
	"io"
	"net"
	"net/http"
)

// Faults are the shares of API calls that meet each injected fault. Each
// rate is within 0..1 and they add up to at most 1: a call meets at most one
// fault.
//
// The order is fixed so that a seed replays the same faults for the same
// sequence of calls. Every call to /openapi (while any rate is non-zero)
// draws one number u in [0, 1) from the generator seeded with
// Options.Seed, and meets the first fault whose running total of rates
// exceeds u, in the order of the fields below; past their sum it meets none.
// A fault with several variants then draws its variant, uniformly, from the
// same generator. Nothing else draws from it: the punctuation of the
// rate-limit messages comes from a second generator seeded from the same
// seed, so quota answers never shift the fault sequence.
//
// The first three happen in front of WDT: the order is not touched, no
// concurrency slot is taken, and by_status counts nothing. The others
// happen after WDT processed the call as usual (verification, quotas, the
// cancel): the order changed if the call would have changed it, and only
// the answer is lost, garbled, or (the keep-alive faults) put out of step
// with the requests on its connection.
type Faults struct {
	// FailRate: a gateway fault before the call reaches WDT: 502 "Bad
	// Gateway", 200 with nginx's HTML page, 200 with an empty body, or a
	// connection reset. by_fault: http_502, html_page, empty_body,
	// connection_reset.
	FailRate float64
	// RedirectRate: 302 to DecoyPath with the call's signed query, so a
	// client that follows redirects leaks it; the decoy answers
	// {"status":0} and touches nothing. by_fault: redirect, and
	// redirect_followed for each request the decoy receives.
	RedirectRate float64
	// LaxJSONRate: 200 application/json that only a lax parser takes for
	// success: {"status":-0}, {"STATUS":0}, a duplicate status key whose
	// last value is 0, {"status":0} followed by text, {"status":"0"},
	// {"status":0.0}. by_fault: lax_json_*.
	LaxJSONRate float64
	// ApplyFailRate: WDT applies the call, then the answer is garbled: 504
	// with nginx's gateway page, 502 "Bad Gateway", 200 with an HTML page,
	// 200 with an empty body, 200 with JSON cut at {"status":, 500 with
	// {"status":0}, or 200 {"status":99,"message":"系统错误"}. by_fault:
	// garbled_*; the order's garbled_responses counts it.
	ApplyFailRate float64
	// LostResponseRate: WDT applies the call, then the connection is reset
	// with no answer. by_fault: lost_response; the order's lost_responses
	// counts it.
	LostResponseRate float64
	// DesyncRate: WDT applies the call, but the gateway in front answers
	// 504 first (nginx's page) and then writes WDT's real answer onto the
	// same kept-alive connection, as the reply to the next request the
	// client sends on it; the connection stays one answer behind until the
	// client leaves it idle for LateAnswerWait or closes it. by_fault:
	// desync, and misplaced_answer for each answer delivered to a later
	// request; the order's garbled_responses counts both its 504 and a
	// call of its that read another's answer.
	DesyncRate float64
	// ExtraAnswerRate: WDT applies the call and its answer goes out, then
	// an unsolicited extra 200 {"status":0} is owed on the same connection:
	// it is written as the reply to the next request sent on it, which is
	// itself answered one behind, as with DesyncRate. by_fault:
	// extra_answer, misplaced_answer.
	ExtraAnswerRate float64
}

// Validate checks every rate is within 0..1 and their sum at most 1.
func (f Faults) Validate() error {
	for _, r := range f.rates() {
		if !(r.rate >= 0 && r.rate <= 1) {
			return fmt.Errorf("sandbox: %s %v is outside 0..1", r.name, r.rate)
		}
	}
	// A little slack for decimal rates such as 0.1+0.2+0.7.
	if sum := f.sum(); sum > 1+1e-9 {
		return fmt.Errorf("sandbox: fault rates add up to %v (fail-rate %v + redirect-rate %v + lax-json-rate %v + apply-fail-rate %v + lost-response-rate %v + desync-rate %v + extra-answer-rate %v); a call meets at most one fault, so the sum must be at most 1",
			sum, f.FailRate, f.RedirectRate, f.LaxJSONRate, f.ApplyFailRate, f.LostResponseRate, f.DesyncRate, f.ExtraAnswerRate)
	}
	return nil
}

type namedRate struct {
	name string
	kind faultKind
	rate float64
}

// rates lists the rates in the order a call's draw meets them. Append only:
// a new rate at the end leaves what a seed replays for the others alone.
func (f Faults) rates() [7]namedRate {
	return [...]namedRate{
		{"fail-rate", kindGateway, f.FailRate},
		{"redirect-rate", kindRedirect, f.RedirectRate},
		{"lax-json-rate", kindLaxJSON, f.LaxJSONRate},
		{"apply-fail-rate", kindGarbled, f.ApplyFailRate},
		{"lost-response-rate", kindLost, f.LostResponseRate},
		{"desync-rate", kindDesync, f.DesyncRate},
		{"extra-answer-rate", kindExtra, f.ExtraAnswerRate},
	}
}

func (f Faults) sum() float64 {
	var s float64
	for _, r := range f.rates() {
		s += r.rate
	}
	return s
}

// DecoyPath is where a redirect fault points. It answers {"status":0} to
// anything and never touches an order: a client that follows the redirect
// takes a cancel WDT never saw for a success, and has sent its signed query
// to another URL.
const DecoyPath = "/_sandbox/elsewhere"

// Fault names in Stats.ByFault that are not a variant of canned answer.
const (
	FaultRedirect         = "redirect"
	FaultRedirectFollowed = "redirect_followed"
	FaultLostResponse     = "lost_response"
)

type faultKind int

const (
	kindNone     faultKind = iota
	kindGateway            // in front of WDT, order untouched
	kindRedirect           // in front of WDT, order untouched
	kindLaxJSON            // in front of WDT, order untouched
	kindGarbled            // after WDT processed the call
	kindLost               // after WDT processed the call
	kindDesync             // after WDT processed the call: 504 first, its answer late on the connection
	kindExtra              // after WDT processed the call: its answer, then an extra one
)

// beforeWDT reports whether the fault answers instead of WDT.
func (k faultKind) beforeWDT() bool {
	return k == kindGateway || k == kindRedirect || k == kindLaxJSON
}

// canned is a fixed answer a fault sends. A zero code resets the
// connection instead.
type canned struct {
	name  string // in Stats.ByFault
	code  int
	ctype string
	body  string
}

// fault is what the sandbox decided to do to one call instead of, or after,
// answering it.
type fault struct {
	kind   faultKind
	answer canned
}

func (f fault) name() string { return f.answer.name }

const (
	ctypeJSON = "application/json; charset=utf-8"
	ctypeHTML = "text/html"
	ctypeText = "text/plain"

	nginx504Page = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	nginx302Page = "<html>\r\n<head><title>302 Found</title></head>\r\n<body>\r\n<center><h1>302 Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	busyPage     = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>提示</title></head><body><h1>系统繁忙，请稍后再试</h1></body></html>\n"
)

// The variants of each fault kind, in the order the variant draw indexes
// them. Append only: reordering changes what a seed replays.
var (
	gatewayAnswers = [...]canned{
		{"http_502", http.StatusBadGateway, ctypeText, "Bad Gateway"},
		{"html_page", http.StatusOK, ctypeHTML, nginx504Page},
		{"empty_body", http.StatusOK, "", ""},
		{"connection_reset", 0, "", ""},
	}
	redirectAnswer = canned{FaultRedirect, http.StatusFound, ctypeHTML, nginx302Page}
	laxJSONAnswers = [...]canned{
		{"lax_json_negative_zero", http.StatusOK, ctypeJSON, `{"status":-0}`},
		{"lax_json_upper_case_key", http.StatusOK, ctypeJSON, `{"STATUS":0}`},
		{"lax_json_duplicate_key", http.StatusOK, ctypeJSON, `{"status":100,"message":"x","status":0}`},
		{"lax_json_trailing_text", http.StatusOK, ctypeJSON, `{"status":0} trailing`},
		{"lax_json_string_status", http.StatusOK, ctypeJSON, `{"status":"0"}`},
		{"lax_json_float_status", http.StatusOK, ctypeJSON, `{"status":0.0}`},
	}
	garbledAnswers = [...]canned{
		{"garbled_504_html", http.StatusGatewayTimeout, ctypeHTML, nginx504Page},
		{"garbled_502_text", http.StatusBadGateway, ctypeText, "Bad Gateway"},
		{"garbled_200_html", http.StatusOK, ctypeHTML, busyPage},
		{"garbled_200_empty", http.StatusOK, "", ""},
		{"garbled_200_truncated_json", http.StatusOK, ctypeJSON, `{"status":`},
		{"garbled_500_status_0", http.StatusInternalServerError, ctypeJSON, `{"status":0}`},
		{"garbled_200_status_99", http.StatusOK, ctypeJSON, `{"status":99,"message":"系统错误"}`},
	}
	lostAnswer = canned{name: FaultLostResponse}
)

// FaultNames lists every name Stats.ByFault can hold.
func FaultNames() []string {
	var out []string
	for _, a := range gatewayAnswers {
		out = append(out, a.name)
	}
	out = append(out, FaultRedirect, FaultRedirectFollowed)
	for _, a := range laxJSONAnswers {
		out = append(out, a.name)
	}
	for _, a := range garbledAnswers {
		out = append(out, a.name)
	}
	return append(out, FaultLostResponse, FaultDesync, FaultExtraAnswer, FaultMisplacedAnswer)
}

// drawFault decides this call's fault, as Faults documents. Caller holds mu.
func (s *Sandbox) drawFault() fault {
	if s.faults.sum() == 0 {
		return fault{}
	}
	u := s.rng.Float64()
	var total float64
	for _, r := range s.faults.rates() {
		total += r.rate
		if u >= total {
			continue
		}
		switch r.kind {
		case kindGateway:
			return fault{r.kind, gatewayAnswers[s.rng.Intn(len(gatewayAnswers))]}
		case kindRedirect:
			return fault{r.kind, redirectAnswer}
		case kindLaxJSON:
			return fault{r.kind, laxJSONAnswers[s.rng.Intn(len(laxJSONAnswers))]}
		case kindGarbled:
			return fault{r.kind, garbledAnswers[s.rng.Intn(len(garbledAnswers))]}
		case kindLost:
			return fault{r.kind, lostAnswer}
		case kindDesync:
			return fault{r.kind, desyncAnswer}
		case kindExtra:
			return fault{r.kind, extraAnswer}
		}
	}
	return fault{}
}

// writeFault sends a fault's answer. r is the API call, for the redirect
// (nil for any other fault).
func writeFault(w http.ResponseWriter, r *http.Request, f fault) {
	a := f.answer
	if a.code == 0 {
		resetConnection(w)
		return
	}
	if f.kind == kindRedirect {
		w.Header().Set("Location", DecoyPath+"?"+r.URL.RawQuery)
	}
	if a.ctype != "" {
		w.Header().Set("Content-Type", a.ctype)
	}
	w.WriteHeader(a.code)
	io.WriteString(w, a.body)
}

// resetConnection drops the connection with a TCP reset and no response.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
