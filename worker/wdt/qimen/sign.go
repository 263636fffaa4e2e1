package qimen

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// excludedFromWdtSign are the API parameters WDT's helper leaves out of
// wdt_sign (WdtUtils QIMEN_EXCLUDE_SIGN_FIELDS).
var excludedFromWdtSign = map[string]bool{"wdt3_customer_id": true, "wdt_sign": true}

// ErrUnsignable is wrapped by Sign's errors: the parameters hold a value on
// which WDT's own helpers (PHP, Java, C#) disagree, so no signature can be
// trusted to match WDT's. docs/wdt-api.md lists the disagreements.
var ErrUnsignable = errors.New("qimen: value cannot be signed unambiguously")

// WdtMethod is the method as wdt_sign covers it: an app-key prefix before
// "wdt." removed ("3ldsmu02o9.wdt.x" → "wdt.x"), as WDT's PHP helper
// (removeQimenCustomPrefix) does. A method that does not start with "wdt."
// loses everything up to its first dot.
func WdtMethod(method string) string {
	if strings.HasPrefix(method, "wdt.") {
		return method
	}
	if i := strings.IndexByte(method, '.'); i >= 0 {
		return method[i+1:]
	}
	return method
}

// Sign computes wdt_sign, WDT's inner signature of a Qimen custom call
// (WdtUtils.getQimenCustomWdtSign): lower-case hex MD5 of secret + the
// flattened parameters + secret. api holds the API parameters as they are
// sent (params and pager as JSON text); method is added to them (see
// WdtMethod), wdt3_customer_id and wdt_sign are left out. The parameters are
// flattened in byte order of their names as name+value; a value that is a
// JSON object or array (after trimming) is decoded and flattened the same
// way, recursively: an object's members as name+value in byte order of the
// names, an array's items one after another, booleans as true/false,
// integers in decimal.
//
// secret is the WDT secret: the part of the appsecret before the colon.
//
// Sign refuses (ErrUnsignable) what WDT's helpers sign differently: null,
// numbers with a fraction or an exponent, booleans or arrays inside an
// array, object keys that are decimal integers, and a key given twice.
// The lookup never sends any of these.
func Sign(secret, method string, api map[string]string) (string, error) {
	var b strings.Builder
	b.WriteString(secret)
	all := make(map[string]string, len(api)+1)
	for k, v := range api {
		all[k] = v
	}
	all["method"] = WdtMethod(method)
	keys := make([]string, 0, len(all))
	for k := range all {
		if !excludedFromWdtSign[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(k)
		if err := flattenText(&b, k, all[k]); err != nil {
			return "", err
		}
	}
	b.WriteString(secret)
	sum := md5.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:]), nil
}

// flattenText appends a text value: decoded and flattened when it is a JSON
// object or array, as is otherwise.
func flattenText(b *strings.Builder, path, v string) error {
	t := strings.TrimSpace(v)
	if len(t) >= 2 && ((t[0] == '{' && t[len(t)-1] == '}') || (t[0] == '[' && t[len(t)-1] == ']')) {
		if tree, err := decodeStrict(t); err == nil {
			return flatten(b, path, tree, false)
		} else if errors.Is(err, ErrUnsignable) {
			return err
		}
		// Not valid JSON: every helper signs it as text.
	}
	b.WriteString(v)
	return nil
}

// member is one member of a decoded object, in document order.
type member struct {
	key string
	val any
}

// flatten appends a decoded JSON value. inList says the value is an item of
// an array, where the helpers disagree on booleans and nested arrays.
func flatten(b *strings.Builder, path string, v any, inList bool) error {
	switch x := v.(type) {
	case []member:
		sort.Slice(x, func(i, j int) bool { return x[i].key < x[j].key })
		for _, m := range x {
			b.WriteString(m.key)
			if err := flatten(b, path+"."+m.key, m.val, false); err != nil {
				return err
			}
		}
	case []any:
		if inList {
			return fmt.Errorf("%w: %s holds an array inside an array (the Java helper fails on it)", ErrUnsignable, path)
		}
		for i, it := range x {
			if err := flatten(b, path+"["+strconv.Itoa(i)+"]", it, true); err != nil {
				return err
			}
		}
	case string:
		return flattenText(b, path, x)
	case json.Number:
		b.WriteString(string(x))
	case bool:
		if inList {
			return fmt.Errorf("%w: %s is a boolean inside an array (PHP signs 1 or nothing, C# True/False)", ErrUnsignable, path)
		}
		b.WriteString(strconv.FormatBool(x))
	case nil:
		return fmt.Errorf("%w: %s is null (PHP signs the key, Java and C# skip it): leave it out", ErrUnsignable, path)
	default:
		return fmt.Errorf("%w: %s has an unexpected type %T", ErrUnsignable, path, v)
	}
	return nil
}

// decodeStrict decodes one JSON value into []member (objects, in document
// order), []any, string, json.Number (integers only), bool or nil. It
// returns ErrUnsignable for what the helpers sign differently, and another
// error for text that is not one JSON value.
func decodeStrict(text string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// decodeValue reads the next JSON value in the order it was written:
// objects as []member, lists as []any, numbers as json.Number, so that
// signing sees exactly what the caller wrote.
func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return decodeObject(dec)
		case '[':
			return decodeList(dec)
		}
		return nil, errors.New("unexpected delimiter")
	case json.Number:
		if !isCanonicalInt(string(t)) {
			return nil, fmt.Errorf("%w: the number %s is not a plain integer (PHP signs 1.50 as 1.5, Java as 1.50)", ErrUnsignable, clipText(string(t), 40))
		}
		return t, nil
	default:
		return t, nil // string, bool, nil
	}
}

// decodeObject reads an object's members after its '{', in order. A key
// given twice or a numeric key is ErrUnsignable: helpers in other
// languages would sign such an object differently (PHP sorts numeric
// keys as numbers and may take the object for a list).
func decodeObject(dec *json.Decoder) ([]member, error) {
	out := []member{}
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := kt.(string)
		if seen[k] {
			return nil, fmt.Errorf("%w: the key %q is given twice", ErrUnsignable, k)
		}
		seen[k] = true
		if _, err := strconv.ParseUint(k, 10, 64); err == nil {
			return nil, fmt.Errorf("%w: the key %q is a number (PHP sorts such keys numerically and may take the object for a list)", ErrUnsignable, k)
		}
		v, err := decodeValue(dec)
		if err != nil {
			return nil, err
		}
		out = append(out, member{k, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeList reads a list's values after its '[', in order.
func decodeList(dec *json.Decoder) ([]any, error) {
	out := []any{}
	for dec.More() {
		v, err := decodeValue(dec)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

// isCanonicalInt reports whether s is an integer written as every helper
// prints it back: optional minus, no leading zero, within int64.
func isCanonicalInt(s string) bool {
	if s == "-0" {
		return false
	}
	d := strings.TrimPrefix(s, "-")
	if d == "" || (len(d) > 1 && d[0] == '0') {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// TopSign computes the outer signature of a Qimen call, Taobao TOP's
// sign_method=md5: upper-case hex MD5 of secret + every parameter but sign,
// in byte order of the names, as name+value + secret. params are the
// parameters as sent, system and API parameters alike (wdt_sign and
// wdt3_customer_id included); secret is the Qimen appsecret.
//
// The Qimen PHP SDK skips a value beginning with "@" (its file-upload
// marker); the lookup never sends one, and TopSign signs every value.
func TopSign(secret string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "sign" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.WriteString(secret)
	for _, k := range keys {
		buf.WriteString(k)
		buf.WriteString(params[k])
	}
	buf.WriteString(secret)
	sum := md5.Sum(buf.Bytes())
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
