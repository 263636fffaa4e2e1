package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/wdtcancel/wdtcancel/internal/httpjson"
)

// route is one endpoint; an empty method accepts any.
type route struct {
	method, path string
	h            http.HandlerFunc
}

// routes builds the sandbox's mux: the API, the decoy, and the inspection
// endpoints. A known path asked with another method gets a JSON 405 with
// Allow, anything else a JSON 404.
func (s *Sandbox) routes() *http.ServeMux {
	table := []route{
		{http.MethodPost, "/openapi", s.serveAPI},
		{http.MethodPost, QimenPath, s.serveQimen},
		{http.MethodGet, "/_sandbox/qimen/stats", s.serveQimenStats},
		{"", DecoyPath, s.serveDecoy},
		{http.MethodGet, "/_sandbox/stats", s.serveStats},
		{http.MethodGet, "/_sandbox/orders", s.serveOrders},
		{http.MethodGet, "/_sandbox/orders/{no}", s.serveOrder},
		{http.MethodPut, "/_sandbox/orders/{no}", s.servePutOrder},
		{http.MethodGet, "/healthz", serveHealth},
	}
	return buildMux(table)
}

// buildMux serves a route table: a known path asked with another method gets
// a JSON 405 with Allow, anything else a JSON 404.
func buildMux(table []route) *http.ServeMux {
	mux := http.NewServeMux()
	allow := map[string][]string{}
	var paths []string
	for _, rt := range table {
		if rt.method == "" {
			mux.HandleFunc(rt.path, rt.h)
			continue
		}
		mux.HandleFunc(rt.method+" "+rt.path, rt.h)
		if _, seen := allow[rt.path]; !seen {
			paths = append(paths, rt.path)
		}
		allow[rt.path] = append(allow[rt.path], rt.method)
		if rt.method == http.MethodGet {
			allow[rt.path] = append(allow[rt.path], http.MethodHead)
		}
	}
	for _, p := range paths {
		methods := allow[p]
		slices.Sort(methods)
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			httpjson.Write(w, http.StatusMethodNotAllowed, map[string]any{
				"error": "method not allowed", "method": r.Method, "path": r.URL.Path, "allow": methods})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusNotFound, map[string]any{"error": "not found", "path": r.URL.Path})
	})
	return mux
}

func serveHealth(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Sandbox) serveStats(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, s.Stats())
}

func (s *Sandbox) serveOrders(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, s.Orders())
}

// serveOrder is GET /_sandbox/orders/{no}.
func (s *Sandbox) serveOrder(w http.ResponseWriter, r *http.Request) {
	no := r.PathValue("no")
	o, ok := s.Order(no)
	if !ok {
		httpjson.Write(w, http.StatusNotFound, map[string]any{"pre_stockin_no": no, "error": "no such order"})
		return
	}
	httpjson.Write(w, http.StatusOK, o)
}

// maxPutBody bounds PUT /_sandbox/orders/{no}: its body is {"status": N}.
const maxPutBody = 4 << 10

// servePutOrder is PUT /_sandbox/orders/{no} {"status": STATE}: the
// operator fixes the order in WDT, as in the ERP's own UI, so a requeue can
// be rehearsed. It answers the order as GET does.
func (s *Sandbox) servePutOrder(w http.ResponseWriter, r *http.Request) {
	no := r.PathValue("no")
	bad := func(msg string) {
		httpjson.Write(w, http.StatusBadRequest, map[string]any{"pre_stockin_no": no, "error": msg})
	}
	var in struct {
		Status *int `json:"status"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPutBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		bad(`body must be {"status": STATE}: ` + err.Error())
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		bad(`body must be {"status": STATE} and nothing after it`)
		return
	}
	if in.Status == nil {
		bad(`body must be {"status": STATE}: status is missing`)
		return
	}
	if !ValidState(*in.Status) {
		bad(fmt.Sprintf("state %d is not a pre-stockin state: use one of %s", *in.Status, statesText()))
		return
	}
	s.SetOrder(no, *in.Status)
	o, _ := s.Order(no)
	httpjson.Write(w, http.StatusOK, o)
}

// serveDecoy is where a redirect fault points: it answers success to any
// method and never touches an order. Its requests count only as
// redirect_followed.
func (s *Sandbox) serveDecoy(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Date", s.serverNow().UTC().Format(http.TimeFormat))
	s.mu.Lock()
	s.stats.ByFault[FaultRedirectFollowed]++
	s.mu.Unlock()
	w.Header().Set("Content-Type", ctypeJSON)
	io.WriteString(w, `{"status":0}`)
}
