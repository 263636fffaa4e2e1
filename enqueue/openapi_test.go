package enqueue

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/internal/testkit"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// oaDoc is enqueue/openapi.yaml parsed as plain YAML: the few parts of
// OpenAPI 3 the conformance test needs are read by hand (no validator
// library is served).
type oaDoc map[string]any

func loadOpenAPI(t *testing.T) oaDoc {
	t.Helper()
	// Into a plain map: nested maps then decode as map[string]any too.
	var m map[string]any
	if err := yaml.Unmarshal(openAPIDoc, &m); err != nil {
		t.Fatalf("enqueue/openapi.yaml is not YAML: %v", err)
	}
	d := oaDoc(m)
	if v, _ := d["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi version %q, want 3.x", d["openapi"])
	}
	return d
}

// get walks keys from the document's root.
func (d oaDoc) get(keys ...string) any {
	var n any = map[string]any(d)
	for _, k := range keys {
		m, ok := n.(map[string]any)
		if !ok {
			return nil
		}
		n = m[k]
	}
	return n
}

// deref follows a local $ref ("#/components/...") until a node without one.
func (d oaDoc) deref(n any) map[string]any {
	m, _ := n.(map[string]any)
	for i := 0; m != nil && i < 10; i++ {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		m, _ = d.get(strings.Split(strings.TrimPrefix(ref, "#/"), "/")...).(map[string]any)
	}
	return m
}

// opKey is one documented answer.
type opKey struct {
	path, method string // path as templated in the document, or unroutedMethod / unroutedPath
	status       int
}

func (k opKey) String() string { return fmt.Sprintf("%s %s -> %d", k.method, k.path, k.status) }

// The answers outside the listed operations, another method on a listed
// path or another path, are standard responses of every operation (the
// components MethodNotAllowed and NotFound), so generated clients learn
// them; the conformance test files them under these keys.
const (
	unroutedMethod = "(other method)"
	unroutedPath   = "(other path)"
)

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// responses lists every documented answer with its (dereferenced) response
// object.
func (d oaDoc) responses(t *testing.T) map[opKey]map[string]any {
	t.Helper()
	out := map[opKey]map[string]any{}
	add := func(path, method string, rs any) {
		m, _ := rs.(map[string]any)
		if len(m) == 0 {
			t.Fatalf("%s %s documents no responses", method, path)
		}
		for code, r := range m {
			var status int
			if _, err := fmt.Sscan(code, &status); err != nil {
				t.Fatalf("%s %s: response %q is not a status code", method, path, code)
			}
			out[opKey{path, method, status}] = d.deref(r)
		}
	}
	const (
		notFoundRef   = "#/components/responses/NotFound"
		notAllowedRef = "#/components/responses/MethodNotAllowed"
	)
	paths, _ := d.get("paths").(map[string]any)
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			if !slices.Contains(httpMethods, strings.ToUpper(method)) {
				continue
			}
			rs, _ := op.(map[string]any)["responses"].(map[string]any)
			own := map[string]any{}
			for code, r := range rs {
				ref, _ := r.(map[string]any)["$ref"].(string)
				if ref != notFoundRef && ref != notAllowedRef {
					own[code] = r
				}
			}
			// Every operation names the answers outside the operations, as
			// standard responses (its own 404, if it has one, stands).
			if _, ok := rs["404"]; !ok {
				t.Errorf("%s %s does not list response 404 (NotFound)", strings.ToUpper(method), path)
			}
			if r, _ := rs["405"].(map[string]any); r["$ref"] != notAllowedRef {
				t.Errorf("%s %s does not list response 405 as MethodNotAllowed", strings.ToUpper(method), path)
			}
			add(path, strings.ToUpper(method), own)
		}
	}
	ref := func(name string) any { return map[string]any{"$ref": "#/components/responses/" + name} }
	add(unroutedPath, "*", map[string]any{"401": ref("Unauthorized"), "404": ref("NotFound")})
	add(unroutedMethod, "*", map[string]any{"401": ref("Unauthorized"), "405": ref("MethodNotAllowed")})
	return out
}

// documented is the documented answer for a request to the document path
// tmpl ("" for a path the document does not list) with method, if any.
func (d oaDoc) documented(all map[opKey]map[string]any, tmpl, method string, status int) (map[string]any, opKey, bool) {
	k := opKey{tmpl, method, status}
	switch {
	case tmpl == "":
		k = opKey{unroutedPath, "*", status}
	case d.get("paths", tmpl, strings.ToLower(method)) == nil:
		k = opKey{unroutedMethod, "*", status}
	}
	r, ok := all[k]
	return r, k, ok
}

// checkSchema reports where v does not match schema: type, required keys,
// no undocumented keys when additionalProperties is false, enum, items,
// date-time format.
func (d oaDoc) checkSchema(schema any, v any, at string) []string {
	s := d.deref(schema)
	if s == nil {
		return []string{at + ": no schema"}
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	switch typ, _ := s["type"].(string); typ {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			bad("%T, want object", v)
			return errs
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := m[r.(string)]; !ok {
				bad("required key %q missing", r)
			}
		}
		for k, val := range m {
			p, ok := props[k]
			if !ok {
				if s["additionalProperties"] == false {
					bad("undocumented key %q", k)
				}
				continue
			}
			errs = append(errs, d.checkSchema(p, val, at+"."+k)...)
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			bad("%T, want array", v)
			return errs
		}
		for i, e := range l {
			errs = append(errs, d.checkSchema(s["items"], e, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			bad("%T, want string", v)
			return errs
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			bad("%q does not match %s", str, p)
		}
		if n, ok := s["maxLength"].(int); ok && len([]rune(str)) > n {
			bad("%q longer than %d", str, n)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				bad("%q is not a date-time", str)
			}
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			bad("%v, want integer", v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("%T, want boolean", v)
		}
	default:
		bad("schema type %q not handled by this test", typ)
	}
	if enum := asList(s["enum"]); enum != nil && !slices.Contains(enum, v) {
		bad("%v not in enum %v", v, enum)
	}
	return errs
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestOpenAPIDocumentsTheLimits holds the limits written in the document to
// the code's defaults, so neither drifts alone.
func TestOpenAPIDocumentsTheLimits(t *testing.T) {
	d := loadOpenAPI(t)
	for _, tt := range []struct {
		where string
		got   any
		want  int
	}{
		{"info.x-max-body-bytes", d.get("info", "x-max-body-bytes"), DefaultMaxBodyBytes},
		{"POST requestBody x-max-body-bytes", d.get("paths", "/v1/cancellations", "post", "requestBody", "x-max-body-bytes"), DefaultMaxBodyBytes},
		{"CancelRequest.pre_stockin_nos.maxItems", d.get("components", "schemas", "CancelRequest", "properties", "pre_stockin_nos", "maxItems"), DefaultMaxNumbers},
		{"CancelRequest.source.maxLength", d.get("components", "schemas", "CancelRequest", "properties", "source", "maxLength"), tasks.MaxSourceLength},
		{"SellerName.maxLength", d.get("components", "schemas", "SellerName", "maxLength"), tasks.MaxSellerLength},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %d (the code's value)", tt.where, tt.got, tt.want)
		}
	}
	if def := d.get("components", "schemas", "SellerName", "default"); def != tasks.DefaultSeller {
		t.Errorf("SellerName.default = %v, want %q", def, tasks.DefaultSeller)
	}
	pattern := regexp.MustCompile(d.get("components", "schemas", "SellerName", "pattern").(string))
	for _, name := range []string{"default", "shop-a", "9_x", "Shop", "-a", "a b", "a:b", "é"} {
		if got, want := pattern.MatchString(name), tasks.ValidateSeller(name) == nil; got != want {
			t.Errorf("SellerName.pattern matches %q: %v, but tasks.ValidateSeller accepts it: %v", name, got, want)
		}
	}
	desc, _ := d.get("info", "description").(string)
	for _, want := range []string{fmt.Sprint(DefaultMaxBodyBytes), fmt.Sprint(DefaultMaxNumbers), OpenAPIPath} {
		if !strings.Contains(desc, want) {
			t.Errorf("info.description does not mention %s", want)
		}
	}
	if typ, scheme := d.get("components", "securitySchemes", "bearerAuth", "type"), d.get("components", "securitySchemes", "bearerAuth", "scheme"); typ != "http" || scheme != "bearer" {
		t.Errorf("securitySchemes.bearerAuth: type %v scheme %v, want http bearer", typ, scheme)
	}
	if sec := fmt.Sprint(d.get("security")); sec != "[map[bearerAuth:[]]]" {
		t.Errorf("top-level security %s, want bearerAuth", sec)
	}
	for _, path := range []string{"/healthz", OpenAPIPath} {
		if sec := d.get("paths", path, "get", "security"); sec == nil || len(asList(sec)) != 0 {
			t.Errorf("GET %s: security %v, want [] (served without a token)", path, sec)
		}
	}
}

// TestOpenAPIConformance proves the running API and enqueue/openapi.yaml
// agree: every documented (path, method, status) is produced by a row
// below against a real Redis, with a body matching the documented schema
// and the documented headers; and a sweep of every path and method with
// and without the token, bad bodies and Redis down produces only
// documented answers.
func TestOpenAPIConformance(t *testing.T) {
	t.Parallel()
	d := loadOpenAPI(t)
	all := d.responses(t)
	c, r := newClient(t)
	if !r.Real {
		t.Skip("needs a real redis-server to stop and restart (set " + "WDTCANCEL_REQUIRE_REDIS_SERVER=1 to fail instead)")
	}
	const token = "conf0rm"
	announce(t, c, "shop-a")
	srv := httptest.NewServer(NewAPI(c, APIOptions{Token: token}))
	defer srv.Close()
	ctx := context.Background()
	if err := c.rdb.HSet(ctx, store.DeadLetterKey(tasks.DefaultQueue), "CORRUPT1", "{not json").Err(); err != nil {
		t.Fatal(err)
	}

	type answer struct {
		status int
		header http.Header
		body   []byte
	}
	do := func(method, path, auth, ctype, body string) answer {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: body: %v", method, path, err)
		}
		return answer{resp.StatusCode, resp.Header, b}
	}
	// conforms checks an answer against the document for (tmpl, method).
	conforms := func(tmpl, method string, a answer) (opKey, []string) {
		resp, k, ok := d.documented(all, tmpl, method, a.status)
		if !ok {
			return k, []string{fmt.Sprintf("status %d not documented for %s %s (body %.200q)", a.status, method, tmpl, a.body)}
		}
		var errs []string
		headers, _ := resp["headers"].(map[string]any)
		for h := range headers {
			if a.header.Get(h) == "" {
				errs = append(errs, "documented header "+h+" missing")
			}
		}
		content, _ := resp["content"].(map[string]any)
		switch {
		case method == "HEAD":
			if len(a.body) != 0 {
				errs = append(errs, fmt.Sprintf("HEAD answered a body %.100q", a.body))
			}
		case len(content) == 0:
			errs = append(errs, "documented without content, answered "+a.header.Get("Content-Type"))
		case content["application/yaml"] != nil:
			if ct := a.header.Get("Content-Type"); ct != "application/yaml" || !bytes.Equal(a.body, openAPIDoc) {
				errs = append(errs, fmt.Sprintf("Content-Type %q, %d bytes: want application/yaml and the embedded document", ct, len(a.body)))
			}
		default:
			media, _ := content["application/json"].(map[string]any)
			if ct := a.header.Get("Content-Type"); media == nil || !strings.HasPrefix(ct, "application/json") {
				errs = append(errs, "Content-Type "+ct+", documented "+fmt.Sprint(content))
				break
			}
			var v any
			if err := json.Unmarshal(a.body, &v); err != nil {
				errs = append(errs, fmt.Sprintf("body is not JSON: %.200q", a.body))
				break
			}
			errs = append(errs, d.checkSchema(media["schema"], v, "body")...)
		}
		return k, errs
	}

	const js, ok, wrong = "application/json", "Bearer " + token, "Bearer n0pe"
	tooMany := `{"pre_stockin_nos":["` + strings.Repeat(`N","`, DefaultMaxNumbers) + `N"]}`
	tooBig := `{"pre_stockin_nos":["` + strings.Repeat("A", DefaultMaxBodyBytes) + `"]}`
	type row struct {
		name, method, path, tmpl, auth, ctype, body string
		status                                      int
		redisDown                                   bool
		check                                       func(answer) error // beyond the schema
	}
	const one, cancel, doc, health = "/v1/cancellations/{no}", "/v1/cancellations", OpenAPIPath, "/healthz"
	rows := []row{
		{name: "enqueue a mixed batch", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js,
			body: `{"pre_stockin_nos":["RK1","RK 2","RK1","RK3"],"source":"conformance"}`, status: 200,
			check: func(a answer) error {
				var s Summary
				json.Unmarshal(a.body, &s)
				if s.Enqueued != 2 || s.Invalid != 1 || s.Duplicate != 1 || len(s.Items) != 4 {
					return fmt.Errorf("summary %+v", s)
				}
				return nil
			}},
		{name: "enqueue for a seller", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js,
			body: `{"pre_stockin_nos":["RK1"],"seller":"shop-a"}`, status: 200,
			check: func(a answer) error {
				var resp CancelResponse
				json.Unmarshal(a.body, &resp)
				if resp.Seller != "shop-a" || resp.Enqueued != 1 {
					return fmt.Errorf("answer %+v, want RK1 enqueued for shop-a (its own queue)", resp)
				}
				return nil
			}},
		{name: "seller no worker announced", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js, body: `{"pre_stockin_nos":["RK1"],"seller":"shop-typo"}`, status: 400},
		{name: "bad seller", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js, body: `{"pre_stockin_nos":["RK1"],"seller":"Shop A"}`, status: 400},
		{name: "enqueue again: duplicates", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: "application/json; charset=utf-8",
			body: `{"pre_stockin_nos":["RK1"]}`, status: 200},
		{name: "bad JSON", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js, body: `{"pre_stockin_nos":[`, status: 400},
		{name: "unknown field", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js, body: `{"nos":["RK1"]}`, status: 400},
		{name: "seller in the query", method: "POST", path: cancel + "?seller=shop-a", tmpl: cancel, auth: ok, ctype: js, body: `{"pre_stockin_nos":["RK1"]}`, status: 400},
		{name: "empty seller", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js, body: `{"pre_stockin_nos":["RK1"],"seller":""}`, status: 400},
		{name: "seller twice", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js, body: `{"pre_stockin_nos":["RK1"],"seller":"shop-a","seller":"default"}`, status: 400},
		{name: "empty list", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js, body: `{"pre_stockin_nos":[]}`, status: 400},
		{name: "bad source", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js, body: `{"pre_stockin_nos":["RK1"],"source":"a\u0001b"}`, status: 400},
		{name: "POST without token", method: "POST", path: cancel, tmpl: cancel, ctype: js, body: `{"pre_stockin_nos":["RK1"]}`, status: 401},
		{name: "POST wrong token", method: "POST", path: cancel, tmpl: cancel, auth: wrong, ctype: js, body: `{"pre_stockin_nos":["RK1"]}`, status: 401},
		{name: "more numbers than the default limit", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js, body: tooMany, status: 413},
		{name: "body above the default limit", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js, body: tooBig, status: 413},
		{name: "not JSON", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: "text/plain", body: "RK1", status: 415},
		{name: "enqueue with redis down", method: "POST", path: cancel, tmpl: cancel, auth: ok, ctype: js, body: `{"pre_stockin_nos":["RK8","RK9"]}`, status: 503, redisDown: true,
			check: func(a answer) error {
				var s Summary
				json.Unmarshal(a.body, &s)
				if s.Failed+s.Unknown != 2 || len(s.Items) != 2 {
					return fmt.Errorf("summary %+v, want both items failed or unknown", s)
				}
				return nil
			}},

		{name: "look up", method: "GET", path: "/v1/cancellations/RK1", tmpl: one, auth: ok, status: 200,
			check: func(a answer) error {
				if !bytes.Contains(a.body, []byte(`"state":"pending"`)) {
					return fmt.Errorf("not pending: %s", a.body)
				}
				return nil
			}},
		{name: "look up for a seller", method: "GET", path: "/v1/cancellations/RK1?seller=shop-a", tmpl: one, auth: ok, status: 200,
			check: func(a answer) error {
				if !bytes.Contains(a.body, []byte(`"seller":"shop-a"`)) {
					return fmt.Errorf("not shop-a's: %s", a.body)
				}
				return nil
			}},
		{name: "look up for a seller that has not the number", method: "GET", path: "/v1/cancellations/RK3?seller=shop-a", tmpl: one, auth: ok, status: 404},
		{name: "look up with an empty seller", method: "GET", path: "/v1/cancellations/RK1?seller=", tmpl: one, auth: ok, status: 400},
		{name: "look up with two sellers", method: "GET", path: "/v1/cancellations/RK1?seller=a&seller=b", tmpl: one, auth: ok, status: 400},
		{name: "look up with a bad seller", method: "GET", path: "/v1/cancellations/RK1?seller=Shop", tmpl: one, auth: ok, status: 400},
		{name: "look up invalid", method: "GET", path: "/v1/cancellations/RK%21", tmpl: one, auth: ok, status: 400},
		{name: "look up without token", method: "GET", path: "/v1/cancellations/RK1", tmpl: one, status: 401},
		{name: "look up unknown", method: "GET", path: "/v1/cancellations/RK404", tmpl: one, auth: ok, status: 404},
		{name: "look up corrupt record", method: "GET", path: "/v1/cancellations/CORRUPT1", tmpl: one, auth: ok, status: 500},
		{name: "look up with redis down", method: "GET", path: "/v1/cancellations/RK1", tmpl: one, auth: ok, status: 503, redisDown: true},
		{name: "HEAD look up", method: "HEAD", path: "/v1/cancellations/RK1", tmpl: one, auth: ok, status: 200},
		{name: "HEAD invalid", method: "HEAD", path: "/v1/cancellations/RK%21", tmpl: one, auth: ok, status: 400},
		{name: "HEAD without token", method: "HEAD", path: "/v1/cancellations/RK1", tmpl: one, auth: wrong, status: 401},
		{name: "HEAD unknown", method: "HEAD", path: "/v1/cancellations/RK404", tmpl: one, auth: ok, status: 404},
		{name: "HEAD corrupt", method: "HEAD", path: "/v1/cancellations/CORRUPT1", tmpl: one, auth: ok, status: 500},
		{name: "HEAD with redis down", method: "HEAD", path: "/v1/cancellations/RK1", tmpl: one, auth: ok, status: 503, redisDown: true},

		{name: "document without token", method: "GET", path: doc, tmpl: doc, status: 200},
		{name: "document HEAD", method: "HEAD", path: doc, tmpl: doc, auth: wrong, status: 200},
		{name: "health", method: "GET", path: health, tmpl: health, status: 200},
		{name: "health HEAD", method: "HEAD", path: health, tmpl: health, status: 200},

		{name: "other method without token", method: "PUT", path: cancel, tmpl: cancel, status: 401},
		{name: "other method", method: "DELETE", path: "/v1/cancellations/RK1", tmpl: one, auth: ok, status: 405},
		{name: "other path without token", method: "GET", path: "/v1/nope", status: 401},
		{name: "other path", method: "GET", path: "/v1/nope", auth: ok, status: 404},
	}
	produced := map[opKey]bool{}
	run := func(rows []row) {
		for _, tt := range rows {
			t.Run(tt.name, func(t *testing.T) {
				a := do(tt.method, tt.path, tt.auth, tt.ctype, tt.body)
				if a.status != tt.status {
					t.Fatalf("%s %s: %d, want %d: %.300s", tt.method, tt.path, a.status, tt.status, a.body)
				}
				k, errs := conforms(tt.tmpl, tt.method, a)
				for _, e := range errs {
					t.Error(e)
				}
				if tt.check != nil {
					if err := tt.check(a); err != nil {
						t.Error(err)
					}
				}
				if !t.Failed() {
					produced[k] = true
				}
			})
		}
	}
	var up, down []row
	for _, tt := range rows {
		if tt.redisDown {
			down = append(down, tt)
		} else {
			up = append(up, tt)
		}
	}
	run(up)

	// The sweep: every path the document lists (and one it does not) with
	// every method, without, with a wrong and with the right token, with a
	// valid and a bad body; with Redis up, then down.
	sweep := func(phase string) {
		t.Helper()
		type target struct{ path, tmpl string }
		targets := []target{{"/", ""}, {"/v1", ""}, {"/v1/cancellations/RK1/x", ""}, {"/V1/cancellations", ""},
			{"/v1/cancellations?seller=shop-a", cancel}, {"/v1/cancellations/RK1?seller=shop-a", one}, {"/v1/cancellations/RK1?seller=", one}}
		for tmpl := range d.get("paths").(map[string]any) {
			targets = append(targets, target{strings.ReplaceAll(tmpl, "{no}", "RK1"), tmpl})
		}
		sort.Slice(targets, func(i, j int) bool { return targets[i].path < targets[j].path })
		for _, tg := range targets {
			for _, m := range httpMethods {
				for _, auth := range []string{"", wrong, ok, "bearer " + token} {
					for _, body := range []string{`{"pre_stockin_nos":["RK5"]}`, `{`, ""} {
						a := do(m, tg.path, auth, js, body)
						if k, errs := conforms(tg.tmpl, m, a); len(errs) > 0 {
							t.Errorf("sweep (%s) %s %s auth=%v body=%q: %v", phase, m, tg.path, auth != "", body, errs)
						} else {
							produced[k] = true
						}
					}
				}
			}
		}
	}
	sweep("redis up")

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	run(down)
	sweep("redis down")
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
	// After many failed dials go-redis dials again from a goroutine of its
	// own, once a second, and fails every call until that dial succeeds:
	// wait for it, so it does not outlive the test.
	testkit.Until(t, "the client to reconnect after Redis's restart", func() bool { return c.Ping(ctx) == nil })

	var missing []string
	for k := range all {
		if !produced[k] {
			missing = append(missing, k.String())
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("documented but produced by no request: %s", m)
	}
}

// TestOpenAPIHasNoYAML11Booleans: YAML 1.1 readers (PyYAML, many OpenAPI
// tools) read a plain no, yes, on, off, y or n as a boolean; the path
// parameter's name "no" unquoted became false and broke the document for
// them, while yaml.v3 (YAML 1.2) read it as a string. Such scalars must be
// quoted.
func TestOpenAPIHasNoYAML11Booleans(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal(openAPIDoc, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Style == 0 {
			switch strings.ToLower(n.Value) {
			case "y", "yes", "n", "no", "on", "off":
				t.Errorf("line %d: plain %q is a boolean to YAML 1.1 readers: quote it", n.Line, n.Value)
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
}

// TestOpenAPISpecValidator runs openapi-spec-validator (Python, a separate
// implementation of the OpenAPI 3 schema) on the document when it is
// installed; the conformance test above checks only what it reads.
func TestOpenAPISpecValidator(t *testing.T) {
	path, err := exec.LookPath("openapi-spec-validator")
	if err != nil {
		t.Skip("openapi-spec-validator not installed (pip install openapi-spec-validator)")
	}
	out, err := exec.Command(path, "openapi.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("openapi-spec-validator: %v\n%s", err, out)
	}
}

// TestOpenAPIDescribesTheOutcomeEvent keeps the webhook's callback in step
// with the event the worker writes (store.Event): every JSON key documented
// and none more, and the three signature headers the worker sends.
func TestOpenAPIDescribesTheOutcomeEvent(t *testing.T) {
	t.Parallel()
	d := loadOpenAPI(t)
	props, _ := d.get("components", "schemas", "OutcomeEvent", "properties").(map[string]any)
	s := 1
	now := time.Now()
	b, err := json.Marshal(store.Event{WDTStatus: &s, FirstAt: &now, Message: "m", Error: "e", Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	for k := range ev {
		if props[k] == nil {
			t.Errorf("event key %q not in components.schemas.OutcomeEvent", k)
		}
	}
	for k := range props {
		if _, ok := ev[k]; !ok {
			t.Errorf("OutcomeEvent documents %q, which the event does not have", k)
		}
	}
	cb, _ := d.get("paths", "/v1/cancellations", "post", "callbacks", "outcome").(map[string]any)
	if len(cb) != 1 {
		t.Fatalf("callbacks.outcome of POST /v1/cancellations: %v, want one path item", cb)
	}
	for _, item := range cb {
		params, _ := oaDoc(item.(map[string]any)).get("post", "parameters").([]any)
		got := map[string]bool{}
		for _, p := range params {
			got[p.(map[string]any)["name"].(string)] = true
		}
		for _, h := range []string{"X-Wdtcancel-Signature", "X-Wdtcancel-Timestamp", "X-Wdtcancel-Event-Id"} {
			if !got[h] {
				t.Errorf("callback does not document header %s", h)
			}
		}
	}
}
