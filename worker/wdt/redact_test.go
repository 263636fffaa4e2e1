package wdt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/wdtcancel/wdtcancel/worker/wdt"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// A salt with every character that encodes differently in a query, a path
// and JSON.
const (
	echoSecret = "EchoSecretQ7w8e9"
	echoSalt   = "Ech0/Salt+Mix=ed=="
)

// echoed is what the server saw of one request.
type echoed struct {
	fullURL, rawQuery, sign, salt string
	query                         url.Values
}

// phpJSON encodes s as PHP's json_encode does by default: "/" as "\/", no
// HTML escaping.
func phpJSON(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.ReplaceAll(strings.TrimSpace(b.String()), "/", `\/`)
}

func goJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func lowerHex(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			b.WriteByte('%')
			b.WriteString(strings.ToLower(s[i+1 : i+3]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestEchoedSecretsAreScrubbed: a server that echoes the request (URL, query,
// salt, signature, in every encoding) into the message, the code, the body,
// the Location or a malformed status line leaks none of it through the
// *Error.
func TestEchoedSecretsAreScrubbed(t *testing.T) {
	type reply func(w http.ResponseWriter, e echoed)
	jsonReply := func(code int, body string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.WriteHeader(code)
			io.WriteString(w, body)
		}
	}
	tests := []struct {
		name string
		want wdt.Category
		keep string // text that must survive the scrubbing
		send reply
	}{
		{"message: full URL, Go JSON", wdt.Rejected, "echo", func(w http.ResponseWriter, e echoed) {
			jsonReply(200, `{"status":100,"message":`+goJSON("echo "+e.fullURL)+`}`)(w)
		}},
		{"message: full URL, PHP JSON", wdt.Rejected, "echo", func(w http.ResponseWriter, e echoed) {
			jsonReply(200, `{"status":100,"message":`+phpJSON("echo "+e.fullURL)+`}`)(w)
		}},
		{"message: decoded salt and sign", wdt.Config, "验证失败", func(w http.ResponseWriter, e echoed) {
			jsonReply(200, `{"status":1,"message":`+goJSON("验证失败 salt "+e.salt+" sign "+e.sign)+`}`)(w)
		}},
		{"message: salt and sign as parameters", wdt.Config, "验证失败", func(w http.ResponseWriter, e echoed) {
			jsonReply(200, `{"status":1,"message":`+goJSON("验证失败: sign="+e.sign+", salt="+e.salt)+`}`)(w)
		}},
		{"message: query-escaped URL", wdt.Rejected, "return to", func(w http.ResponseWriter, e echoed) {
			jsonReply(200, `{"status":100,"message":`+goJSON("return to "+url.QueryEscape(e.fullURL))+`}`)(w)
		}},
		{"message: path-escaped salt, lower-case hex query", wdt.Rejected, "seen", func(w http.ResponseWriter, e echoed) {
			jsonReply(200, `{"status":100,"message":`+goJSON("seen "+url.PathEscape(e.salt)+" in "+lowerHex(e.rawQuery))+`}`)(w)
		}},
		{"message: parameters reordered", wdt.Rejected, "params", func(w http.ResponseWriter, e echoed) {
			q := "v=1.0&sign=" + e.sign + "&timestamp=" + e.query.Get("timestamp") + "&sid=" + e.query.Get("sid") + "&salt=" + url.QueryEscape(e.salt)
			jsonReply(200, `{"status":100,"message":`+goJSON("params "+q)+`}`)(w)
		}},
		{"message: the appsecret", wdt.Rejected, "configured", func(w http.ResponseWriter, e echoed) {
			jsonReply(200, `{"status":100,"message":`+goJSON("configured appsecret="+echoSecret+":"+echoSalt)+`}`)(w)
		}},
		{"code: the query string", wdt.Rejected, "单据不存在", func(w http.ResponseWriter, e echoed) {
			jsonReply(200, `{"status":100,"message":"单据不存在","code":`+goJSON(e.rawQuery)+`}`)(w)
		}},
		{"code: the PHP-escaped salt", wdt.Rejected, "单据不存在", func(w http.ResponseWriter, e echoed) {
			jsonReply(200, `{"status":100,"message":"单据不存在","code":`+phpJSON(e.salt)+`}`)(w)
		}},
		{"data: the parameters as JSON", wdt.Rejected, "单据不存在", func(w http.ResponseWriter, e echoed) {
			d, _ := json.Marshal(map[string]string{"salt": e.salt, "sign": e.sign, "sid": e.query.Get("sid")})
			jsonReply(200, `{"status":100,"message":"单据不存在","data":`+strings.ReplaceAll(string(d), "/", `\/`)+`}`)(w)
		}},
		{"body: gateway page with the URL", wdt.UnknownOutcome, "Bad Gateway", func(w http.ResponseWriter, e echoed) {
			jsonReply(502, "<html>Bad Gateway for <a href=\""+html.EscapeString(e.fullURL)+"\">"+e.fullURL+"</a></html>")(w)
		}},
		{"body: salt across the excerpt cut", wdt.UnknownOutcome, "xxxx", func(w http.ResponseWriter, e echoed) {
			jsonReply(502, strings.Repeat("x", 115)+e.salt+" "+e.sign)(w)
		}},
		{"body: JSON-escaped query in a non-2xx", wdt.UnknownOutcome, "upstream", func(w http.ResponseWriter, e echoed) {
			jsonReply(503, `{"error":"upstream","request":`+goJSON(e.fullURL)+`,"php":`+phpJSON(e.fullURL)+`}`)(w)
		}},
		{"Location: the whole request", wdt.Config, "redirect", func(w http.ResponseWriter, e echoed) {
			w.Header().Set("Location", "http://other.example/openapi?"+e.rawQuery)
			jsonReply(302, e.fullURL)(w)
		}},
		{"malformed status line quoting the request", wdt.UnknownOutcome, "malformed", func(w http.ResponseWriter, e echoed) {
			conn, buf, _ := w.(http.Hijacker).Hijack()
			defer conn.Close()
			buf.WriteString("XYZ " + e.fullURL + " " + e.salt + "\r\n\r\n")
			buf.Flush()
		}},
	}

	var mu sync.Mutex
	var last echoed
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var args []int
		json.NewDecoder(r.Body).Decode(&args)
		q := r.URL.Query()
		e := echoed{fullURL: "http://" + r.Host + r.RequestURI, rawQuery: r.URL.RawQuery, sign: q.Get("sign"), salt: q.Get("salt"), query: q}
		mu.Lock()
		last = e
		mu.Unlock()
		if len(args) != 1 || args[0] < 0 || args[0] >= len(tests) {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		tests[args[0]].send(w, e)
	}))
	defer srv.Close()

	creds, err := wdt.NewCredentials(sandbox.DefaultSID, sandbox.DefaultAppKey, echoSecret+":"+echoSalt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := wdt.New(srv.URL+"/openapi", creds, wdt.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Call(context.Background(), "wms.stockin.PreStockin.cancel", i)
			if got := wdt.CategoryOf(err); got != tt.want {
				t.Fatalf("category %s, want %s: %v", got, tt.want, err)
			}
			mu.Lock()
			e := last
			mu.Unlock()
			if e.salt != echoSalt || len(e.sign) != 32 {
				t.Fatalf("the server did not see the request: %+v", e)
			}
			var we *wdt.Error
			if !errors.As(err, &we) {
				t.Fatalf("%T", err)
			}
			fault, fix := wdt.Fix(err)
			texts := map[string]string{
				"Error()": err.Error(), "Message": we.Message, "Code": we.Code, "Body": we.Body,
				"%+v": fmt.Sprintf("%+v", err), "%#v": fmt.Sprintf("%#v", err), "Fix": fault + " " + fix,
			}
			if we.Err != nil {
				texts["Err"] = we.Err.Error()
			}
			secrets := []string{
				echoSecret, echoSalt, url.QueryEscape(echoSalt), url.PathEscape(echoSalt), lowerHex(url.QueryEscape(echoSalt)),
				phpJSON(echoSalt), goJSON(echoSalt), e.sign, e.rawQuery, lowerHex(e.rawQuery), "Ech0/S", "Ech0%2FS",
				"sign=", "salt=", "openapi?", "sid=",
			}
			for where, text := range texts {
				for _, s := range secrets {
					if strings.Contains(text, s) {
						t.Errorf("%s leaks %q: %s", where, s, text)
					}
				}
			}
			if !strings.Contains(err.Error(), tt.keep) {
				t.Errorf("scrubbed too much, %q is gone: %s", tt.keep, err.Error())
			}
		})
	}
}

// TestCredentialsRedact: the last line of defence for text from outside.
func TestCredentialsRedact(t *testing.T) {
	c := wdt.Credentials{SID: "s1", AppKey: "k1", Secret: echoSecret, Salt: echoSalt}
	tests := []struct{ in, want string }{
		{"salt " + echoSalt, "salt [REDACTED]"},
		{"q " + url.QueryEscape(echoSalt), "q [REDACTED]"},
		{"p " + url.PathEscape(echoSalt), "p [REDACTED]"},
		{"j " + phpJSON(echoSalt), `j "[REDACTED]"`},
		{"secret " + echoSecret + "!", "secret [REDACTED]!"},
		{"sid=s1&key=k1&salt=x&sign=y", "[REDACTED]"},
		{"a sign=abc here", "a [REDACTED] here"},
		{`{"salt":"x\"y","ok":1}`, `{"salt":"[REDACTED]","ok":1}`},
		{"design=fine&page=2", "design=fine&page=2"},
		{"入库单状态不为待审核或编辑中 ", "入库单状态不为待审核或编辑中 "},
		{"未找到对应的单据信息?", "未找到对应的单据信息?"},
	}
	for _, tt := range tests {
		if got := c.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	short := wdt.Credentials{Secret: "abc", Salt: "xy"}
	if got := short.Redact("abc xy"); got != "abc xy" {
		t.Errorf("values under four bytes are replaced: %q", got)
	}
}
