package enqueue

import (
	"strings"
	"testing"
)

// TestDecodePost: a key given twice at the top level is refused (whatever
// it is: encoding/json would keep the last silently), an empty seller is
// refused, null is the default seller; keys inside values may repeat
// across objects.
func TestDecodePost(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		seller     string // when accepted
		errSub     string // "" = accepted
	}{
		{"plain", `{"pre_stockin_nos":["RK1"],"seller":"acme"}`, "acme", ""},
		{"no seller", `{"pre_stockin_nos":["RK1"]}`, "", ""},
		{"null seller", `{"pre_stockin_nos":["RK1"],"seller":null}`, "", ""},
		{"empty seller", `{"pre_stockin_nos":["RK1"],"seller":""}`, "", `"seller" is empty`},
		{"seller twice", `{"seller":"zeta","pre_stockin_nos":["RK1"],"seller":"default"}`, "", `"seller" given more than once`},
		{"same seller twice", `{"seller":"zeta","seller":"zeta","pre_stockin_nos":["RK1"]}`, "", `"seller" given more than once`},
		{"numbers twice", `{"pre_stockin_nos":["RK1"],"pre_stockin_nos":["RK2"]}`, "", `"pre_stockin_nos" given more than once`},
		{"source twice after nested arrays", `{"pre_stockin_nos":[["x"],{"a":1}],"source":"a","source":"b"}`, "", `"source" given more than once`},
		{"not an object", `["RK1"]`, "", "body must be"},
		{"trailing data", `{"pre_stockin_nos":["RK1"]} {}`, "", "trailing data"},
		{"unknown field", `{"nos":["RK1"]}`, "", "unknown field"},
		// encoding/json matches names case-insensitively (Unicode folding):
		// each of these selected the seller or replaced the numbers.
		{"upper-case twin of seller", `{"seller":"shop-a","SELLER":"typo","pre_stockin_nos":["RKQ05"]}`, "", `unknown field "SELLER"`},
		{"capitalised seller alone", `{"Seller":"shop-a","pre_stockin_nos":["RKQ05"]}`, "", `unknown field "Seller"`},
		{"long s seller", `{"ſeller":"shop-a","pre_stockin_nos":["RKQ05"]}`, "", `unknown field "\u017feller"`},
		{"upper-case twin of numbers", `{"seller":"shop-a","pre_stockin_nos":["RKQ12"],"PRE_STOCKIN_NOS":["RKQ13"]}`, "", `unknown field "PRE_STOCKIN_NOS"`},
		{"nested keys are not checked here", `{"pre_stockin_nos":["RK1"],"seller":"acme","source":"x"}`, "acme", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := decodePost([]byte(tt.body))
			if tt.errSub == "" {
				if err != nil || req.Seller != tt.seller {
					t.Fatalf("got %+v, %v; want seller %q", req, err, tt.seller)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Fatalf("error %v, want it to say %q", err, tt.errSub)
			}
		})
	}
}

// TestAPITokenMustBeSendable: a token no request can match (callers' tokens
// are read trimmed) is refused at start, never shown; an outside tester
// started the API with WDTCANCEL_API_TOKEN=' ' and got 401 for everything.
func TestAPITokenMustBeSendable(t *testing.T) {
	for _, tt := range []struct {
		name, token, errSub string
	}{
		{"none: unauthenticated", "", ""},
		{"ordinary", "s3cretTok3n", ""},
		{"space inside", "s3cret Tok3n", "white space or an invisible character"},
		{"zero-width space inside", "s3cret\u200bTok3n", "white space or an invisible character"},
		{"byte-order mark in front", "\ufeffs3cretTok3n", "white space or an invisible character"},
		{"punctuation is fine", "s3cret-Tok3n_./+=", ""},
		{"one space", " ", "only white space"},
		{"tab and newline", "\t\n", "only white space"},
		{"trailing newline", "s3cretTok3n\n", "white space around it"},
		{"leading space", " s3cretTok3n", "white space around it"},
		{"control character", "s3cret\x01Tok3n", "control character"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := APIOptions{Token: tt.token}.Validate()
			if tt.errSub == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errSub) || strings.Contains(err.Error(), "Tok3n") {
				t.Fatalf("error %v, want it to say %q and not show the token", err, tt.errSub)
			}
		})
	}
}
