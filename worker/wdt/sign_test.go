package wdt

import (
	"crypto/md5"
	"encoding/hex"
	"testing"
)

// TestSignKnownAnswer reproduces the vendor's published vector.
func TestSignKnownAnswer(t *testing.T) {
	secret, salt, err := SplitAppSecret("693f9fed686bfe13441385da98b436b6:dd488d0802b1e431e4c72cd355847853")
	if err != nil {
		t.Fatal(err)
	}
	creds := Credentials{SID: "wdterp30", AppKey: "czhc", Secret: secret, Salt: salt}
	got := Sign(creds.Secret, requestParams(creds, "wms.stockout.Sales.weighingExt", 232623153, `["xc109393939393939","",1.2,0,false]`))
	if want := "20f557aaf9190797c581bbceeb6d5a5c"; got != want {
		t.Fatalf("sign = %s, want %s", got, want)
	}
}

// naiveSign is an independent, deliberately plain reading of docs/wdt-api.md
// ("Signing a call"): concatenate in byte order of names, MD5, lowercase hex.
func naiveSign(secret string, kv map[string]string) string {
	names := make([]string, 0, len(kv))
	for k := range kv {
		names = append(names, k)
	}
	for i := range names { // insertion sort by bytes, no sort package
		for j := i; j > 0 && names[j] < names[j-1]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	s := secret
	for _, n := range names {
		s += n + kv[n]
	}
	s += secret
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestSignCases(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
	}{
		{"chinese body", map[string]string{"body": `["退货预入库单","编辑中"]`, "key": "k", "method": "m", "salt": "s", "sid": "x", "timestamp": "1", "v": "1.0"}},
		{"paging parameters", map[string]string{"body": `[{"start_time":"2024-01-01 00:00:00"}]`, "page_no": "0", "page_size": "100", "calc_total": "1", "key": "k", "method": "m", "sid": "x", "salt": "s", "timestamp": "2", "v": "1.0"}},
		// Byte order puts upper case before lower case and "_" (0x5F) between
		// them; a locale-aware or case-folding sort would differ.
		{"byte order differs from locale", map[string]string{"b": "1", "B": "2", "a_b": "3", "aB": "4", "ab": "5", "Z": "6", "_x": "7", "body": "[]"}},
		{"empty values", map[string]string{"body": "[]", "key": "", "v": "1.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var params []Param
			for k, v := range tt.params {
				params = append(params, Param{k, v})
			}
			if got, want := Sign("sec", params), naiveSign("sec", tt.params); got != want {
				t.Fatalf("Sign = %s, independent = %s", got, want)
			}
		})
	}
}

func TestSignByteOrderIsNotCaseFolded(t *testing.T) {
	// "Z" < "a" by bytes. If a sort folded case the two orders would sign alike.
	a := Sign("s", []Param{{"a", "1"}, {"Z", "2"}})
	want := md5.Sum([]byte("sZ2a1s"))
	if a != hex.EncodeToString(want[:]) {
		t.Fatalf("sign %s is not over the byte-ordered string", a)
	}
}

func BenchmarkSign(b *testing.B) {
	creds := Credentials{SID: "wdterp30", AppKey: "czhc", Secret: "693f9fed686bfe13441385da98b436b6", Salt: "dd488d0802b1e431e4c72cd355847853"}
	b.ReportAllocs()
	for b.Loop() {
		Sign(creds.Secret, requestParams(creds, MethodCancelPreStockin, 232623153, `["RK2004210014"]`))
	}
}
