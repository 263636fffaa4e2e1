package tasks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// CheckTopKeys refuses a JSON object whose top level holds a key that is
// not byte for byte one of names, or holds a key twice. encoding/json
// matches field names case-insensitively (Unicode case folding, so
// "SELLER" and "ſeller" read as "seller") and keeps the last of repeated
// keys: {"seller":"a","SELLER":"b"} was read as seller b, and a payload
// {"PRE_STOCKIN_NO":...} was cancelled although no producer of ours writes
// that. A body that is not an object, or is malformed, passes: the decoder
// then says what is wrong. A token walk; no values are kept.
func CheckTopKeys(body []byte, names ...string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	seen := make(map[string]bool, len(names))
	for dec.More() {
		t, err := dec.Token()
		k, isKey := t.(string)
		if err != nil || !isKey {
			return nil
		}
		if !isOneOf(k, names) {
			return fmt.Errorf("unknown field %s (field names are exact and lower-case: %s)", strconv.QuoteToASCII(k), quoteAll(names))
		}
		if seen[k] {
			return fmt.Errorf("field %q given more than once: give each field once", k)
		}
		seen[k] = true
		if skipValue(dec) != nil {
			return nil
		}
	}
	return nil
}

func isOneOf(k string, names []string) bool {
	for _, n := range names {
		if k == n {
			return true
		}
	}
	return false
}

func quoteAll(names []string) string {
	var b bytes.Buffer
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(n))
	}
	return b.String()
}

// skipValue reads one JSON value's tokens, nested ones included.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
