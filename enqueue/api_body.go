package enqueue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wdtcancel/wdtcancel/internal/httpjson"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// refuseQuery answers 400 (false) when a POST carries query parameters:
// POST reads none, and ?seller=zeta on a POST used to be ignored, so the
// numbers went to the default seller's queue and the default worker
// cancelled them in the wrong account. The seller goes in the body.
func refuseQuery(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.RawQuery == "" {
		return true
	}
	q := r.URL.Query()
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	msg := "POST /v1/cancellations takes no query parameters (got " + strings.Join(names, ", ") + `): everything goes in the JSON body, the seller too ({"pre_stockin_nos": [...], "seller": "..."})`
	if q.Has("seller") {
		msg += ": name the seller in the body; ?seller= is for GET"
	}
	httpjson.Write(w, http.StatusBadRequest, apiError{Error: msg})
	return false
}

// refuseUnknownQuery answers 400 (false) when a GET carries a query
// parameter other than known (names are exact: ?SELLER=typo used to be
// ignored and the answer was the default seller's, as if it were about the
// seller asked for).
func refuseUnknownQuery(w http.ResponseWriter, r *http.Request, known ...string) bool {
	var unknown []string
	for k := range r.URL.Query() {
		if !slices.Contains(known, k) {
			unknown = append(unknown, strconv.QuoteToASCII(k))
		}
	}
	if len(unknown) == 0 {
		return true
	}
	sort.Strings(unknown)
	httpjson.Write(w, http.StatusBadRequest, apiError{Error: "unknown query parameter " + strings.Join(unknown, ", ") + " on " + r.Method + " " + r.URL.Path + ": the only parameter is ?seller= (exact, lower-case); leave the others out"})
	return false
}

// postBody is CancelRequest as read: Seller a pointer, to tell "" (a
// mistake, refused) from absent or null (the default seller).
type postBody struct {
	PreStockinNos []string `json:"pre_stockin_nos"`
	Source        string   `json:"source,omitempty"`
	Seller        *string  `json:"seller,omitempty"`
}

// decodePost reads body into a CancelRequest: a key that is not exactly
// one of the documented names (encoding/json matches names
// case-insensitively, so "SELLER":"typo" beside "seller":"shop-a"
// enqueued for typo), trailing data, a key given twice (encoding/json
// keeps the last, so "seller":"zeta","seller":"default" enqueued for
// default) and an empty seller are refused with what to change.
func decodePost(body []byte) (CancelRequest, error) {
	if err := tasks.CheckTopKeys(body, "pre_stockin_nos", "source", "seller"); err != nil {
		return CancelRequest{}, fmt.Errorf("body %w", err)
	}
	var b postBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return CancelRequest{}, fmt.Errorf(`body must be {"pre_stockin_nos": ["..."], "source": "...", "seller": "..."}: %w`, err)
	}
	if dec.More() {
		return CancelRequest{}, errors.New("trailing data after the JSON object")
	}
	req := CancelRequest{PreStockinNos: b.PreStockinNos, Source: b.Source}
	if b.Seller != nil {
		if *b.Seller == "" {
			return CancelRequest{}, errors.New(`body field "seller" is empty: name the seller, or leave the field out (or null) for the default seller (` + SellerRule + ")")
		}
		req.Seller = *b.Seller
	}
	return req, nil
}

// notTokenChar is a rune a token must not hold: white space and anything
// unicode.IsPrint refuses (format characters such as U+200B), which a
// person copying the token cannot see, and invalid UTF-8.
func notTokenChar(r rune) bool {
	return unicode.IsSpace(r) || !unicode.IsPrint(r) || r == utf8.RuneError
}

// checkToken refuses a bearer token no request can match: callers' tokens
// are read trimmed (bearerToken), so one of white space only, or with white
// space around it, started an API that called itself authenticated and
// answered every request 401. A control character cannot be sent in a
// header at all. The token is never shown.
func checkToken(token string) error {
	const where = "WDTCANCEL_API_TOKEN (--token, APIOptions.Token)"
	switch {
	case token == "":
		return nil
	case strings.TrimSpace(token) == "":
		return errors.New(where + " is only white space: set a real token (e.g. openssl rand -hex 24), or leave it unset with --allow-unauthenticated on loopback")
	case strings.TrimSpace(token) != token:
		return errors.New(where + " has white space around it, which no request can send: remove it (a trailing newline from a file, maybe)")
	case strings.IndexFunc(token, unicode.IsControl) >= 0:
		return errors.New(where + " holds a control character, which no request can send: set a token of printable characters")
	case strings.IndexFunc(token, notTokenChar) >= 0:
		return errors.New(where + " holds white space or an invisible character inside it (a space, a zero-width space U+200B, a byte-order mark U+FEFF): a caller copying it cannot see it and gets 401; set a token of printable characters without spaces (e.g. openssl rand -hex 24)")
	}
	return nil
}
