// Package uifonts serves the web fonts of the asynqmon page from the binary
// and rewrites the page's links to them.
//
// asynqmon's index.html links two render-blocking stylesheets on
// fonts.googleapis.com (Roboto and Material Icons). Where that host is
// filtered (mainland China) or unreachable (air-gapped sites), a browser
// waits for those requests to time out before it draws the page. The fonts
// come from Debian packages under the Apache License 2.0 (files/NOTICE);
// only the weights the page asks Google for are embedded.
package uifonts

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

//go:embed files/*.woff2 files/LICENSE-Apache-2.0.txt files/NOTICE
var files embed.FS

// Stylesheet names under the prefix.
const (
	RobotoCSS = "roboto.css"
	IconsCSS  = "material-icons.css"
)

// robotoWeights are the weights asynqmon asks Google for (300, 400, 500,
// 700: Material UI's light, regular, medium and bold).
var robotoWeights = []struct {
	weight int
	file   string
}{{300, "Roboto-Light.woff2"}, {400, "Roboto-Regular.woff2"}, {500, "Roboto-Medium.woff2"}, {700, "Roboto-Bold.woff2"}}

const iconsFile = "MaterialIcons-Regular.woff2"

// asset is one file served under the prefix, with the hash that versions
// its URL.
type asset struct {
	body        []byte
	contentType string
	hash        string
}

// assets maps a name under the prefix to what is served there; built once,
// from the embedded files and the stylesheets that reference them.
var assets = buildAssets()

func buildAssets() map[string]*asset {
	m := map[string]*asset{}
	add := func(name, contentType string, body []byte) {
		sum := sha256.Sum256(body)
		m[name] = &asset{body: body, contentType: contentType, hash: hex.EncodeToString(sum[:6])}
	}
	read := func(name string) []byte {
		b, err := files.ReadFile("files/" + name)
		if err != nil {
			panic(fmt.Sprintf("uifonts: embedded %s missing: %v (rebuild from a complete checkout)", name, err))
		}
		return b
	}
	for _, w := range robotoWeights {
		add(w.file, "font/woff2", read(w.file))
	}
	add(iconsFile, "font/woff2", read(iconsFile))
	add("LICENSE-Apache-2.0.txt", "text/plain; charset=utf-8", read("LICENSE-Apache-2.0.txt"))
	add("NOTICE", "text/plain; charset=utf-8", read("NOTICE"))

	// The stylesheets are Google's, with our files in place of gstatic.com's
	// (relative URLs: they resolve against the stylesheet's own path).
	var roboto strings.Builder
	roboto.WriteString("/* Roboto (Apache License 2.0, see NOTICE), served by wdtcancel instead of fonts.googleapis.com */\n")
	for _, w := range robotoWeights {
		fmt.Fprintf(&roboto, "@font-face {\n  font-family: 'Roboto';\n  font-style: normal;\n  font-weight: %d;\n  font-display: swap;\n  src: url(%s?v=%s) format('woff2');\n}\n",
			w.weight, w.file, m[w.file].hash)
	}
	add(RobotoCSS, "text/css; charset=utf-8", []byte(roboto.String()))
	icons := fmt.Sprintf(`/* Material Icons (Apache License 2.0, see NOTICE), served by wdtcancel instead of fonts.googleapis.com */
@font-face {
  font-family: 'Material Icons';
  font-style: normal;
  font-weight: 400;
  font-display: block;
  src: url(%s?v=%s) format('woff2');
}
.material-icons {
  font-family: 'Material Icons';
  font-weight: normal;
  font-style: normal;
  font-size: 24px;
  line-height: 1;
  letter-spacing: normal;
  text-transform: none;
  display: inline-block;
  white-space: nowrap;
  word-wrap: normal;
  direction: ltr;
  -webkit-font-feature-settings: 'liga';
  font-feature-settings: 'liga';
  -webkit-font-smoothing: antialiased;
}
`, iconsFile, m[iconsFile].hash)
	add(IconsCSS, "text/css; charset=utf-8", []byte(icons))
	return m
}

// Names lists what Handler serves.
func Names() []string {
	names := make([]string, 0, len(assets))
	for n := range assets {
		names = append(names, n)
	}
	return names
}

// URL is the versioned path of name under prefix: a new build with other
// bytes gets a new URL, so browsers may cache each URL for good.
func URL(prefix, name string) string {
	a, ok := assets[name]
	if !ok {
		panic("uifonts: no asset " + strconv.Quote(name))
	}
	return strings.TrimSuffix(prefix, "/") + "/" + name + "?v=" + a.hash
}

// immutable is the Cache-Control of a versioned URL whose version matches.
const immutable = "public, max-age=31536000, immutable"

// Handler serves the stylesheets, fonts and licence texts under prefix
// ("/monitoring/fonts"). A request carrying the current version (?v=, as
// URL and the stylesheets write it) may be cached for a year; any other is
// revalidated by ETag.
func Handler(prefix string) http.Handler {
	prefix = strings.TrimSuffix(prefix, "/") + "/"
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			rw.Header().Set("Allow", "GET, HEAD")
			http.Error(rw, "the fonts are read-only: use GET", http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, prefix)
		a := assets[name]
		if !ok || a == nil {
			http.Error(rw, "no such font file: "+strconv.Quote(r.URL.Path)+" (the page links "+prefix+RobotoCSS+" and "+prefix+IconsCSS+")", http.StatusNotFound)
			return
		}
		h := rw.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", `"`+a.hash+`"`)
		if r.URL.Query().Get("v") == a.hash {
			h.Set("Cache-Control", immutable)
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		http.ServeContent(rw, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}

// googleLinkRE matches a <link> to Google's font hosts, capturing its href.
var googleLinkRE = regexp.MustCompile(`<link[^>]*\bhref="(https?://fonts\.(?:googleapis|gstatic)\.com/[^"]*)"[^>]*>`)

// RewriteHTML replaces the page's links to Google's font stylesheets with
// links to ours under prefix. A Google link for a family we do not carry
// is dropped: the page then falls back to a local font rather than wait.
func RewriteHTML(page []byte, prefix string) []byte {
	return googleLinkRE.ReplaceAllFunc(page, func(tag []byte) []byte {
		href := string(googleLinkRE.FindSubmatch(tag)[1])
		switch {
		case strings.Contains(href, "family=Material+Icons"):
			return []byte(`<link rel="stylesheet" href="` + URL(prefix, IconsCSS) + `"/>`)
		case strings.Contains(href, "family=Roboto"):
			return []byte(`<link rel="stylesheet" href="` + URL(prefix, RobotoCSS) + `"/>`)
		}
		return nil
	})
}

// RewriteLinks wraps next, a handler that serves HTML pages among other
// files (asynqmon's UI), so its HTML links the stylesheets under prefix
// instead of Google's. Each response is buffered to be rewritten: do not
// route an API that streams or answers in bulk through it.
func RewriteLinks(next http.Handler, prefix string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b := &bufferedWriter{header: http.Header{}}
		next.ServeHTTP(b, r)
		body := b.buf.Bytes()
		ct := b.header.Get("Content-Type")
		if ct == "" && len(body) > 0 {
			ct = http.DetectContentType(body)
			b.header.Set("Content-Type", ct)
		}
		if strings.HasPrefix(ct, "text/html") {
			body = RewriteHTML(body, prefix)
			b.header.Set("Content-Length", strconv.Itoa(len(body)))
		}
		for k, v := range b.header {
			rw.Header()[k] = v
		}
		if b.code == 0 {
			b.code = http.StatusOK
		}
		rw.WriteHeader(b.code)
		if r.Method != http.MethodHead {
			_, _ = rw.Write(body) // an error means the client went away: nobody to tell
		}
	})
}

// bufferedWriter keeps a response whole so RewriteLinks can change it.
type bufferedWriter struct {
	header http.Header
	code   int
	buf    bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.buf.Write(p)
}
