package wdt

import (
	"crypto/md5"
	"encoding/hex"
	"sort"
	"strconv"
	"time"
)

// Epoch is the zero of WDT timestamps: 2012-01-01 00:00:00 UTC (1325347200).
const Epoch int64 = 1325347200

// APIVersion is the only value of the v parameter WDT accepts.
const APIVersion = "1.0"

// Param is one signed parameter. A slice rather than a map keeps signing free
// of map iteration and lets callers keep a fixed order.
type Param struct {
	Name, Value string
}

// Timestamp converts t to WDT's timestamp: whole seconds since Epoch.
func Timestamp(t time.Time) int64 { return t.Unix() - Epoch }

// Sign computes WDT's signature: lowercase hex MD5 of secret, then every
// parameter name immediately followed by its raw value in byte order of the
// names, then secret again. No separators and no URL encoding: the vendor
// signs the raw strings. params is sorted in place.
func Sign(secret string, params []Param) string {
	sort.Slice(params, func(i, j int) bool { return params[i].Name < params[j].Name })
	h := md5.New()
	buf := make([]byte, 0, 256)
	buf = append(buf, secret...)
	for _, p := range params {
		buf = append(buf, p.Name...)
		buf = append(buf, p.Value...)
	}
	buf = append(buf, secret...)
	h.Write(buf)
	var sum [md5.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// requestParams builds the seven signed parameters of one call.
func requestParams(c Credentials, method string, ts int64, body string) []Param {
	// Already in byte order of names, so Sign's sort is a no-op pass.
	return []Param{
		{"body", body},
		{"key", c.AppKey},
		{"method", method},
		{"salt", c.Salt},
		{"sid", c.SID},
		{"timestamp", strconv.FormatInt(ts, 10)},
		{"v", APIVersion},
	}
}
