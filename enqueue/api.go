package enqueue

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/wdtcancel/wdtcancel/internal/httpjson"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// API limits: a request body and the numbers in one request.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxNumbers   = 10000
)

// APIOptions configure the HTTP producer.
type APIOptions struct {
	// Token is the bearer token callers must send. Empty means no
	// authentication, which the command allows only on loopback.
	Token        string
	MaxBodyBytes int64
	MaxNumbers   int
	Logger       *zap.Logger
}

// API is the HTTP producer: POST /v1/cancellations and
// GET /v1/cancellations/{no}, JSON in and out. Each request names its
// seller (body field "seller", query ?seller=; tasks.DefaultSeller when
// absent) and every answer about a seller's numbers carries "seller".
type API struct {
	c    *Client
	opts APIOptions
	mux  *http.ServeMux
}

// CancelRequest is the body of POST /v1/cancellations.
type CancelRequest struct {
	PreStockinNos []string `json:"pre_stockin_nos"`
	Source        string   `json:"source,omitempty"`
	// Seller the numbers belong to; empty means tasks.DefaultSeller.
	Seller string `json:"seller,omitempty"`
}

// CancelResponse is the answer of POST /v1/cancellations: the seller and
// the batch's Summary, its fields at the top level.
type CancelResponse struct {
	Seller string `json:"seller"`
	Summary
}

// apiError is every error body. Seller is set once the request's seller is
// known and valid.
type apiError struct {
	Error  string `json:"error"`
	Seller string `json:"seller,omitempty"`
}

// WithDefaults is o with every zero field at its default.
func (o APIOptions) WithDefaults() APIOptions {
	o.MaxBodyBytes = cmp.Or(o.MaxBodyBytes, DefaultMaxBodyBytes)
	o.MaxNumbers = cmp.Or(o.MaxNumbers, DefaultMaxNumbers)
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return o
}

// Validate rejects limits that cannot be meant: a negative one is a
// mistake, not "the default".
func (o APIOptions) Validate() error {
	if o.MaxBodyBytes < 0 {
		return fmt.Errorf("--max-body-bytes (APIOptions.MaxBodyBytes) is %d: use a positive size, or 0 for the default %d", o.MaxBodyBytes, DefaultMaxBodyBytes)
	}
	if err := checkToken(o.Token); err != nil { // api_body.go
		return err
	}
	if o.MaxNumbers < 0 {
		return fmt.Errorf("--max-numbers (APIOptions.MaxNumbers) is %d: use a positive count, or 0 for the default %d", o.MaxNumbers, DefaultMaxNumbers)
	}
	return nil
}

// NewAPI builds the handler; o's zero fields take their defaults (call
// Validate first to reject negative limits).
func NewAPI(c *Client, o APIOptions) *API {
	o = o.WithDefaults()
	a := &API{c: c, opts: o, mux: http.NewServeMux()}
	a.mux.HandleFunc("POST /v1/cancellations", a.post)
	a.mux.HandleFunc("GET /v1/cancellations/{no}", a.get)
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.notFoundAndMethods() // api_routes.go
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A bug must cost one request, not the process, and must not echo
		// the request in a stack trace.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			a.opts.Logger.Error("api handler panic", zap.String("path", r.URL.Path), zap.Any("panic", v))
			httpjson.Write(w, http.StatusInternalServerError, apiError{Error: "internal error"})
		}
	}()
	if !publicPath(r.URL.Path) && !a.authorized(r) { // api_routes.go
		w.Header().Set("WWW-Authenticate", `Bearer realm="wdtcancel"`)
		httpjson.Write(w, http.StatusUnauthorized, apiError{Error: "missing or wrong bearer token: send Authorization: Bearer <WDTCANCEL_API_TOKEN>"})
		return
	}
	a.mux.ServeHTTP(w, r)
}

func (a *API) authorized(r *http.Request) bool {
	if a.opts.Token == "" {
		return true
	}
	got, ok := bearerToken(r.Header.Get("Authorization")) // api_routes.go
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(a.opts.Token)) == 1
}

func (a *API) post(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		httpjson.Write(w, http.StatusUnsupportedMediaType, apiError{Error: "Content-Type must be application/json"})
		return
	}
	if !refuseQuery(w, r) { // api_body.go
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			httpjson.Write(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf("request body larger than %d bytes: split the batch", a.opts.MaxBodyBytes)})
			return
		}
		httpjson.Write(w, http.StatusBadRequest, apiError{Error: "cannot read request body"})
		return
	}
	req, err := decodePost(body) // api_body.go
	if err != nil {
		httpjson.Write(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	switch n := len(req.PreStockinNos); {
	case n == 0:
		httpjson.Write(w, http.StatusBadRequest, apiError{Error: "pre_stockin_nos is empty"})
		return
	case n > a.opts.MaxNumbers:
		httpjson.Write(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf("%d numbers in one request, at most %d: split the batch", n, a.opts.MaxNumbers)})
		return
	}
	if err := tasks.ValidateSource(req.Source); err != nil {
		httpjson.Write(w, http.StatusBadRequest, apiError{Error: err.Error()})
		return
	}
	c, ok := a.forSeller(w, req.Seller, "body field \"seller\"")
	if !ok {
		return
	}
	results, err, ok := a.cancelSlice(r.Context(), w, c, req.Source, req.PreStockinNos)
	if !ok {
		return
	}
	sum := Summarize(results, true)
	a.opts.Logger.Info("api enqueue", zap.String("seller", c.seller), zap.Int("numbers", len(results)), zap.Int("enqueued", sum.Enqueued),
		zap.Int("duplicate", sum.Duplicate), zap.Int("invalid", sum.Invalid), zap.Int("failed", sum.Failed),
		zap.Duration("duration", time.Since(start)))
	code := http.StatusOK
	if err != nil || (sum.Failed > 0 && sum.Failed == sum.Total()) {
		code = http.StatusServiceUnavailable
	}
	httpjson.Write(w, code, CancelResponse{Seller: c.seller, Summary: sum})
}

// cancelSlice is CancelSlice with the request's source (if any), except that a seller no worker announced is
// answered 400 (false: answered), and a seller check Redis did not answer
// fails every item (the 503 the document promises) instead of none.
func (a *API) cancelSlice(ctx context.Context, w http.ResponseWriter, c *Client, source string, nos []string) ([]Result, error, bool) {
	if source != "" {
		c.source = source
	}
	err := c.CheckSeller(ctx)
	switch {
	case errors.Is(err, ErrUnknownSeller):
		httpjson.Write(w, http.StatusBadRequest, apiError{Error: "body field \"seller\": " + err.Error()})
		return nil, err, false
	case err != nil:
		results := make([]Result, len(nos))
		for i, no := range nos {
			results[i] = Result{PreStockinNo: no, Result: Failed, Error: err.Error(), Err: err}
		}
		return results, err, true
	}
	results, err := c.CancelSlice(ctx, nos, ManyOptions{})
	return results, err, true
}

// forSeller is a copy of the API's client for the request's seller (""
// is tasks.DefaultSeller), or false after answering 400 with the reason.
// The copy is the caller's to change (its source).
func (a *API) forSeller(w http.ResponseWriter, seller, what string) (*Client, bool) {
	if seller == "" {
		seller = tasks.DefaultSeller
	}
	c, err := a.c.ForSeller(seller)
	if err != nil {
		httpjson.Write(w, http.StatusBadRequest, apiError{Error: what + ": " + err.Error() + " (" + SellerRule + ")"})
		return nil, false
	}
	return c, true
}

// SellerRule says what a seller name may be, for messages refusing one.
const SellerRule = "a seller name is 1-32 lower-case letters, digits, '-' and '_', starting with a letter or a digit"

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	if !refuseUnknownQuery(w, r, "seller") { // api_body.go
		return
	}
	q := r.URL.Query()
	if vs := q["seller"]; len(vs) > 1 {
		httpjson.Write(w, http.StatusBadRequest, apiError{Error: "?seller= given more than once: name one seller"})
		return
	}
	seller, given := q.Get("seller"), q.Has("seller")
	if given && seller == "" {
		// "?seller=" is a mistake, not a request for the default seller.
		httpjson.Write(w, http.StatusBadRequest, apiError{Error: "?seller= is empty: name the seller, or leave the parameter out for the default seller (" + SellerRule + ")"})
		return
	}
	c, ok := a.forSeller(w, seller, "?seller=")
	if !ok {
		return
	}
	st, err := c.Status(r.Context(), r.PathValue("no"))
	switch {
	case errors.Is(err, tasks.ErrInvalid):
		httpjson.Write(w, http.StatusBadRequest, apiError{Error: err.Error(), Seller: c.seller})
	case errors.Is(err, ErrNotFound):
		httpjson.Write(w, http.StatusNotFound, apiError{Error: err.Error(), Seller: c.seller})
	case errors.Is(err, ErrCorruptRecord):
		httpjson.Write(w, http.StatusInternalServerError, apiError{Error: err.Error() + ": an operator can inspect it with `wdtcancel dlq show" + c.sellerFlag() + "` and forget it with `dlq purge" + c.sellerFlag() + "`", Seller: c.seller})
	case err != nil:
		httpjson.Write(w, http.StatusServiceUnavailable, apiError{Error: "redis unavailable, retry later", Seller: c.seller})
	default:
		// Encode before the status line goes out: a value that cannot be
		// encoded must not become a 200 with an empty body.
		if _, err := json.Marshal(st); err != nil {
			httpjson.Write(w, http.StatusInternalServerError, apiError{Error: "cannot encode the status of " + st.PreStockinNo + ": " + err.Error(), Seller: c.seller})
			return
		}
		httpjson.Write(w, http.StatusOK, st)
	}
}
