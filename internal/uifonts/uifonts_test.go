package uifonts_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/wdtcancel/wdtcancel/internal/uifonts"
)

const prefix = "/monitoring/fonts"

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// cssURLRE finds the font files a stylesheet references.
var cssURLRE = regexp.MustCompile(`url\(([^)]+)\)`)

// TestHandlerServesFontsWithTypesAndCaching: each file has its type, a
// versioned URL may be cached for good, an unversioned one is revalidated,
// and anything else is refused with a reason.
func TestHandlerServesFontsWithTypesAndCaching(t *testing.T) {
	h := uifonts.Handler(prefix)
	versioned := func(name string) string { return uifonts.URL(prefix, name) }
	cases := []struct {
		name, method, target string
		code                 int
		contentType, cache   string
		bodyHas              string
	}{
		{"roboto css", "GET", versioned(uifonts.RobotoCSS), 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", "font-family: 'Roboto'"},
		{"icons css", "GET", versioned(uifonts.IconsCSS), 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", ".material-icons"},
		{"woff2", "GET", versioned("Roboto-Regular.woff2"), 200, "font/woff2", "public, max-age=31536000, immutable", "wOF2"},
		{"icons woff2", "GET", versioned("MaterialIcons-Regular.woff2"), 200, "font/woff2", "public, max-age=31536000, immutable", "wOF2"},
		{"unversioned", "GET", prefix + "/Roboto-Bold.woff2", 200, "font/woff2", "no-cache", "wOF2"},
		{"stale version", "GET", prefix + "/Roboto-Bold.woff2?v=0000", 200, "font/woff2", "no-cache", "wOF2"},
		{"licence", "GET", prefix + "/LICENSE-Apache-2.0.txt", 200, "text/plain; charset=utf-8", "no-cache", "Apache License"},
		{"notice", "GET", prefix + "/NOTICE", 200, "text/plain; charset=utf-8", "no-cache", "fonts-roboto-fontface"},
		{"head", "HEAD", versioned(uifonts.RobotoCSS), 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", ""},
		{"unknown file", "GET", prefix + "/Roboto-Thin.woff2", 404, "", "", "no such font file"},
		{"traversal", "GET", prefix + "/../roboto.css", 404, "", "", "no such font file"},
		{"post", "POST", versioned(uifonts.RobotoCSS), 405, "", "", "read-only"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := get(t, h, c.method, c.target, nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != c.code {
				t.Fatalf("%s %s: %d %s, want %d", c.method, c.target, res.StatusCode, body, c.code)
			}
			if c.contentType != "" && res.Header.Get("Content-Type") != c.contentType {
				t.Errorf("Content-Type %q, want %q", res.Header.Get("Content-Type"), c.contentType)
			}
			if c.cache != "" && res.Header.Get("Cache-Control") != c.cache {
				t.Errorf("Cache-Control %q, want %q", res.Header.Get("Cache-Control"), c.cache)
			}
			if !strings.Contains(string(body), c.bodyHas) {
				t.Errorf("body lacks %q: %.200s", c.bodyHas, body)
			}
			if c.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD answered %d bytes", len(body))
			}
		})
	}
	t.Run("etag revalidation", func(t *testing.T) {
		first := get(t, h, "GET", prefix+"/Roboto-Medium.woff2", nil)
		etag := first.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		if res := get(t, h, "GET", prefix+"/Roboto-Medium.woff2", map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match %s: %d, want 304", etag, res.StatusCode)
		}
	})
}

// TestStylesheetsReferenceServedFiles: every url() in our stylesheets is a
// file the handler serves at that version, and nothing points off-site.
func TestStylesheetsReferenceServedFiles(t *testing.T) {
	h := uifonts.Handler(prefix)
	for _, css := range []string{uifonts.RobotoCSS, uifonts.IconsCSS} {
		body, _ := io.ReadAll(get(t, h, "GET", prefix+"/"+css, nil).Body)
		refs := cssURLRE.FindAllStringSubmatch(string(body), -1)
		if len(refs) == 0 {
			t.Errorf("%s references no font", css)
		}
		for _, m := range refs {
			ref := m[1]
			if strings.Contains(ref, "//") {
				t.Errorf("%s references %s off-site", css, ref)
				continue
			}
			name, _, _ := strings.Cut(ref, "?")
			if want := uifonts.URL(prefix, name); prefix+"/"+ref != want {
				t.Errorf("%s references %s, want the current version %s", css, ref, want)
			}
			if res := get(t, h, "GET", prefix+"/"+ref, nil); res.StatusCode != 200 || res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
				t.Errorf("%s references %s: %d %s", css, ref, res.StatusCode, res.Header.Get("Cache-Control"))
			}
		}
	}
}

// TestFontsStaySmall keeps the embedded fonts to the weights the page uses:
// every byte is in every binary. Measured 381,864 bytes (4 Roboto weights,
// Material Icons).
func TestFontsStaySmall(t *testing.T) {
	h := uifonts.Handler(prefix)
	total := 0
	for _, n := range uifonts.Names() {
		if !strings.HasSuffix(n, ".woff2") {
			continue
		}
		body, _ := io.ReadAll(get(t, h, "GET", prefix+"/"+n, nil).Body)
		total += len(body)
	}
	if total == 0 || total > 450<<10 {
		t.Errorf("embedded fonts total %d bytes, want (0, 450 KiB]: embed only the weights the page uses", total)
	}
}

// TestRewriteLinksOnAsynqmon runs asynqmon's own page through RewriteLinks:
// the Google stylesheets become ours, nothing else on the page names an
// outside host, and other files pass unchanged.
func TestRewriteLinksOnAsynqmon(t *testing.T) {
	mon := asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: asynqRedis{}, ReadOnly: true})
	t.Cleanup(func() { mon.Close() })
	h := uifonts.RewriteLinks(mon, prefix)
	for _, target := range []string{"/monitoring/", "/monitoring/queues/wdt-cancel?status=archived"} {
		raw, _ := io.ReadAll(get(t, mon, "GET", target, nil).Body)
		if !strings.Contains(string(raw), "fonts.googleapis.com") {
			t.Fatalf("%s: asynqmon's page no longer links fonts.googleapis.com: check what it links now and adapt RewriteHTML", target)
		}
		res := get(t, h, "GET", target, nil)
		body, _ := io.ReadAll(res.Body)
		page := string(body)
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: Content-Type %q", target, res.Header.Get("Content-Type"))
		}
		if res.ContentLength != int64(len(body)) && res.Header.Get("Content-Length") != "" {
			t.Errorf("%s: Content-Length %s for %d bytes", target, res.Header.Get("Content-Length"), len(body))
		}
		for _, css := range []string{uifonts.RobotoCSS, uifonts.IconsCSS} {
			if want := `<link rel="stylesheet" href="` + uifonts.URL(prefix, css) + `"/>`; !strings.Contains(page, want) {
				t.Errorf("%s: page lacks %s", target, want)
			}
		}
		if off := regexp.MustCompile(`(?:href|src)="(?:https?:)?//[^"]*"`).FindAllString(page, -1); len(off) > 0 {
			t.Errorf("%s: page still links outside hosts: %q", target, off)
		}
	}
	js := get(t, mon, "GET", "/monitoring/favicon.ico", nil)
	orig, _ := io.ReadAll(js.Body)
	res := get(t, h, "GET", "/monitoring/favicon.ico", nil)
	got, _ := io.ReadAll(res.Body)
	if string(got) != string(orig) || res.Header.Get("Content-Type") != js.Header.Get("Content-Type") {
		t.Errorf("favicon changed on the way through: %d bytes %q, want %d bytes %q", len(got), res.Header.Get("Content-Type"), len(orig), js.Header.Get("Content-Type"))
	}
}

// TestRewriteHTMLDropsUnknownGoogleFonts: a family we do not carry is
// dropped, not left to block the page.
func TestRewriteHTMLDropsUnknownGoogleFonts(t *testing.T) {
	in := `<head><link rel="preconnect" href="https://fonts.gstatic.com/"/><link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Noto+Sans"/><title>x</title></head>`
	if got, want := string(uifonts.RewriteHTML([]byte(in), prefix)), `<head><title>x</title></head>`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// asynqRedis satisfies asynq.RedisConnOpt without a server: the page
// itself needs none.
type asynqRedis struct{}

func (asynqRedis) MakeRedisClient() any { return redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) }
