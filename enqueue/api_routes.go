package enqueue

import (
	"net/http"
	"strings"

	"github.com/wdtcancel/wdtcancel/internal/httpjson"
)

// notFoundAndMethods makes the HTTP producer's 404 and 405 answers JSON
// {"error": "..."} like its every other error (net/http's own are text): a
// known path asked with another method gets 405 with Allow, any other path
// 404.
func (a *API) notFoundAndMethods() {
	for path, allow := range map[string]string{
		"/v1/cancellations":      "POST",
		"/v1/cancellations/{no}": "GET, HEAD",
		"/healthz":               "GET, HEAD",
	} {
		a.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			httpjson.Write(w, http.StatusMethodNotAllowed, apiError{Error: "method " + r.Method + " not allowed on " + r.URL.Path + ": use " + allow})
		})
	}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusNotFound, apiError{Error: "no such endpoint " + r.URL.Path + ": POST /v1/cancellations, GET /v1/cancellations/{no}"})
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
