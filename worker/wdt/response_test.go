package wdt

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseResponse(t *testing.T) {
	big := "{\"status\":0,\"data\":\"" + strings.Repeat("x", MaxBodyBytes) + "\"}"
	tests := []struct {
		name      string
		http      int
		body      string
		truncated bool
		want      Category
		status    int
	}{
		{"success", 200, `{"status":0}`, false, Cancelled, 0},
		{"success with white space", 200, "\n {\"status\": 0 }\n", false, Cancelled, 0},
		{"auth failure", 200, `{"status":1,"message":"验证失败"}`, false, Config, 1},
		{"sid of the other environment", 200, `{"status":1,"message":"sid is not exists"}`, false, Config, 1},
		{"timestamp in ms", 200, `{"status":1,"message":"For input string: \"1700000000000\""}`, false, Config, 1},
		{"unknown parameter", 200, `{"status":2,"message":"page"}`, false, Config, 2},
		{"otp set", 200, `{"status":3,"message":"动态密码"}`, false, Config, 3},
		{"db error 4", 200, `{"status":4,"message":"db"}`, false, UnknownOutcome, 4},
		{"db error 5", 200, `{"status":5,"message":"db"}`, false, UnknownOutcome, 5},
		{"ip whitelist", 200, `{"status":6,"message":"ip"}`, false, Config, 6},
		{"clock skew", 200, `{"status":7,"message":"timestamp"}`, false, ClockSkew, 7},
		{"bad v", 200, `{"status":8,"message":"v"}`, false, Config, 8},
		{"internal 99", 200, `{"status":99,"message":"x"}`, false, UnknownOutcome, 99},
		{"undocumented status", 200, `{"status":42}`, false, UnknownOutcome, 42},
		{"rejection with vendor trailing space", 200, `{"status":100,"message":"入库单状态不为待审核或编辑中 "}`, false, Rejected, 100},
		{"no warehouse rights", 200, `{"status":100,"message":"无仓库访问权限","code":"right.required"}`, false, Rejected, 100},
		{"no such document", 200, `{"status":100,"message":"未找到对应的单据信息!"}`, false, Rejected, 100},
		{"rate limit full-width comma", 200, `{"status":100,"message":"超过每分钟最大调用频率限制，请稍后重试"}`, false, RateLimited, 100},
		{"rate limit ascii comma", 200, `{"status":100,"message":"超过每分钟最大调用频率限制,请稍后重试"}`, false, RateLimited, 100},
		{"concurrency limit full-width", 200, `{"status":100,"message":"超过每分钟最大并发次数限制，请稍后重试"}`, false, RateLimited, 100},
		{"concurrency limit ascii", 200, `{"status":100,"message":"超过每分钟最大并发次数限制,请稍后重试"}`, false, RateLimited, 100},
		{"permission", 200, `{"status":100,"message":"权限不足"}`, false, Config, 100},
		{"html page", 200, `<html><body>502 Bad Gateway</body></html>`, false, UnknownOutcome, NoStatus},
		{"empty body", 200, ``, false, UnknownOutcome, NoStatus},
		{"whitespace body", 200, "  \r\n", false, UnknownOutcome, NoStatus},
		{"502", 502, `Bad Gateway`, false, UnknownOutcome, NoStatus},
		{"502 with json success body", 502, `{"status":0}`, false, UnknownOutcome, NoStatus},
		{"redirect with json success body", 302, `{"status":0}`, false, Config, NoStatus},
		{"permanent redirect", 308, ``, false, Config, NoStatus},
		{"not found with json success body", 404, `{"status":0}`, false, Config, NoStatus},
		{"method not allowed", 405, `Method Not Allowed`, false, Config, NoStatus},
		{"500 with json success body", 500, `{"status":0}`, false, UnknownOutcome, NoStatus},
		{"204 no content", 204, ``, false, UnknownOutcome, NoStatus},
		{"missing status", 200, `{"message":"ok"}`, false, UnknownOutcome, NoStatus},
		{"null status", 200, `{"status":null}`, false, UnknownOutcome, NoStatus},
		{"string status", 200, `{"status":"0"}`, false, UnknownOutcome, NoStatus},
		{"float status", 200, `{"status":0.5}`, false, UnknownOutcome, NoStatus},
		{"json array", 200, `[0]`, false, UnknownOutcome, NoStatus},
		{"broken json", 200, `{"status":0`, false, UnknownOutcome, NoStatus},
		{"oversize body", 200, big[:MaxBodyBytes], true, UnknownOutcome, NoStatus},
		// Lax JSON a forgiving decoder would take for a success.
		{"status key upper case", 200, `{"STATUS":0}`, false, UnknownOutcome, NoStatus},
		{"status key title case", 200, `{"Status":0}`, false, UnknownOutcome, NoStatus},
		{"duplicate status, last one 0", 200, `{"status":100,"message":"x","status":0}`, false, UnknownOutcome, NoStatus},
		{"duplicate status, both 0", 200, `{"status":0,"status":0}`, false, UnknownOutcome, NoStatus},
		{"duplicate message", 200, `{"status":0,"message":"a","message":"b"}`, false, UnknownOutcome, NoStatus},
		{"negative zero", 200, `{"status":-0}`, false, UnknownOutcome, NoStatus},
		{"zero with fraction", 200, `{"status":0.0}`, false, UnknownOutcome, NoStatus},
		{"one with exponent", 200, `{"status":1e0}`, false, UnknownOutcome, NoStatus},
		{"zero with exponent", 200, `{"status":0e0}`, false, UnknownOutcome, NoStatus},
		{"leading zero", 200, `{"status":00}`, false, UnknownOutcome, NoStatus},
		{"leading zero on seven", 200, `{"status":07}`, false, UnknownOutcome, NoStatus},
		{"plus sign", 200, `{"status":+0}`, false, UnknownOutcome, NoStatus},
		{"negative status", 200, `{"status":-1}`, false, UnknownOutcome, NoStatus},
		{"boolean status", 200, `{"status":false}`, false, UnknownOutcome, NoStatus},
		{"array status", 200, `{"status":[0]}`, false, UnknownOutcome, NoStatus},
		{"object status", 200, `{"status":{}}`, false, UnknownOutcome, NoStatus},
		{"status beyond int", 200, `{"status":99999999999999999999}`, false, UnknownOutcome, NoStatus},
		{"status only nested", 200, `{"data":{"status":0}}`, false, UnknownOutcome, NoStatus},
		{"trailing garbage", 200, `{"status":0}x`, false, UnknownOutcome, NoStatus},
		{"second object", 200, `{"status":0}{"status":100}`, false, UnknownOutcome, NoStatus},
		{"second object after space", 200, "{\"status\":0}\n{}", false, UnknownOutcome, NoStatus},
		{"trailing comma after object", 200, `{"status":0},`, false, UnknownOutcome, NoStatus},
		{"trailing comma inside object", 200, `{"status":0,}`, false, UnknownOutcome, NoStatus},
		{"trailing NUL", 200, "{\"status\":0}\x00", false, UnknownOutcome, NoStatus},
		{"trailing vertical tab", 200, "{\"status\":0}\v", false, UnknownOutcome, NoStatus},
		{"byte order mark", 200, "\ufeff{\"status\":0}", false, UnknownOutcome, NoStatus},
		{"anti-hijacking prefix", 200, ")]}'\n{\"status\":0}", false, UnknownOutcome, NoStatus},
		{"single quotes", 200, `{'status':0}`, false, UnknownOutcome, NoStatus},
		{"unquoted key", 200, `{status:0}`, false, UnknownOutcome, NoStatus},
		// Strict is not pedantic: these are well-formed answers.
		{"escaped key is still status", 200, `{"st\u0061tus":0}`, false, Cancelled, 0},
		{"duplicates below the top level", 200, `{"status":0,"data":{"a":1,"a":2}}`, false, Cancelled, 0},
		{"json white space around", 200, "\r\n\t {\"status\":0}\r\n\t ", false, Cancelled, 0},
		{"unknown keys", 200, `{"status":0,"extra":[1,{"x":null}]}`, false, Cancelled, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ParseResponse("m", tt.http, []byte(tt.body), tt.truncated)
			if got := CategoryOf(err); got != tt.want {
				t.Fatalf("category = %s, want %s (err %v)", got, tt.want, err)
			}
			if tt.want == Cancelled {
				if resp == nil || resp.Status != 0 {
					t.Fatalf("success without response: %+v", resp)
				}
				return
			}
			var e *Error
			if !errors.As(fmt.Errorf("wrapped: %w", err), &e) {
				t.Fatalf("error %T is not a *Error through wrapping", err)
			}
			if e.Status != tt.status {
				t.Errorf("status = %d, want %d", e.Status, tt.status)
			}
			if e.HTTPStatus != tt.http {
				t.Errorf("http status = %d, want %d", e.HTTPStatus, tt.http)
			}
			if !errors.Is(fmt.Errorf("twice: %w", fmt.Errorf("once: %w", err)), ErrCategory(tt.want)) {
				t.Errorf("errors.Is by category failed through two wraps")
			}
			if len(e.Body) > excerptBytes {
				t.Errorf("body excerpt is %d bytes", len(e.Body))
			}
		})
	}
}

func TestParseResponseKeepsCode(t *testing.T) {
	_, err := ParseResponse("m", 200, []byte(`{"status":100,"message":"无仓库访问权限","code":"right.required"}`), false)
	var e *Error
	if !errors.As(err, &e) || e.Code != "right.required" || !strings.Contains(e.Error(), "right.required") {
		t.Fatalf("code lost: %v", err)
	}
}

// TestCategories pins the category values: they appear verbatim in
// dead-letter records, metrics labels and log lines, so renaming one breaks
// stored data and dashboards.
func TestCategories(t *testing.T) {
	want := []string{"cancelled", "clock_skew", "rate_limited", "config", "rejected", "network", "unknown_outcome", "invalid", "exhausted", "redis"}
	if len(Categories) != len(want) {
		t.Fatalf("Categories = %v, want %v", Categories, want)
	}
	for i, c := range Categories {
		if string(c) != want[i] {
			t.Errorf("Categories[%d] = %q, want %q", i, c, want[i])
		}
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{`{"status":0}`, `{"status":100,"message":"超过每分钟最大调用频率限制,请稍后重试"}`, `<html>`, ``, `{"status":"7"}`, `{"status":1e2}`, `{"status":100,"status":0}`, `{"status":0}{}`, `{"status":-0}`} {
		f.Add(200, []byte(s))
	}
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		resp, err := ParseResponse("m", code, body, false)
		if (resp == nil) == (err == nil) {
			t.Fatalf("exactly one of response and error must be set: %v %v", resp, err)
		}
		if err == nil && (code < 200 || code > 299 || resp.Status != 0) {
			t.Fatalf("success from HTTP %d body %q", code, body)
		}
		if err == nil {
			// An independent, plain reading must agree it is {"status":0,...}.
			var m map[string]json.RawMessage
			if json.Unmarshal(body, &m) != nil || string(m["status"]) != "0" {
				t.Fatalf("success from a body a plain decoder does not read as status 0: %q", body)
			}
		}
		if err != nil {
			_ = err.Error()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("not a *Error: %T", err)
			}
		}
	})
}

func BenchmarkParseResponse(b *testing.B) {
	ok := []byte(`{"status":0}`)
	rej := []byte(`{"status":100,"message":"入库单状态不为待审核或编辑中 "}`)
	b.ReportAllocs()
	for b.Loop() {
		ParseResponse(MethodCancelPreStockin, 200, ok, false)
		ParseResponse(MethodCancelPreStockin, 200, rej, false)
	}
}
