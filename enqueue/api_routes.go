package enqueue

import (
	_ "embed"
	"net/http"
	"strings"

	"github.com/wdtcancel/wdtcancel/internal/httpjson"
)

// notFoundAndMethods makes the HTTP producer's 404 and 405 answers JSON
// {"error": "..."} like its every other error (net/http's own are text): a
// known path asked with another method gets 405 with Allow, any other path
// 404.
func (a *API) notFoundAndMethods() {
	a.mux.HandleFunc("GET "+OpenAPIPath, serveOpenAPI)
	for path, allow := range map[string]string{
		"/v1/cancellations":      "POST",
		"/v1/cancellations/{no}": "GET, HEAD",
		"/healthz":               "GET, HEAD",
		OpenAPIPath:              "GET, HEAD",
	} {
		a.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			httpjson.Write(w, http.StatusMethodNotAllowed, apiError{Error: "method " + r.Method + " not allowed on " + r.URL.Path + ": use " + allow})
		})
	}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusNotFound, apiError{Error: "no such endpoint " + r.URL.Path + ": POST /v1/cancellations, GET /v1/cancellations/{no}, GET " + OpenAPIPath})
	})
}

// bearerToken is the credentials of an Authorization header using the
// Bearer scheme, whose name is case-insensitive (RFC 7235 section 2.1).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// OpenAPIPath is where the API serves its OpenAPI 3 description.
const OpenAPIPath = "/v1/openapi.yaml"

// openAPIDoc is the OpenAPI 3 description of the HTTP producer
// (enqueue/openapi.yaml), embedded so the binary serves the document that
// matches its own code; openapi_test.go holds the two together.
//
//go:embed openapi.yaml
var openAPIDoc []byte

// serveOpenAPI answers the document. It needs no token: it holds no
// secret, and an integrator reads it before having one.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPIDoc)
}

// publicPath reports whether path is served without the bearer token: the
// health check and the document.
func publicPath(path string) bool {
	return path == "/healthz" || path == OpenAPIPath
}
