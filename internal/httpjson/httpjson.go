// Package httpjson writes JSON HTTP answers the one way every wdtcancel
// server does: UTF-8 content type, no HTML escaping (WDT's Chinese messages
// and "<" in numbers stay readable), a trailing newline.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write sends v as JSON with the status code.
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
