package qimen

import (
	"errors"
	"testing"
)

// The wdt_sign vectors. Every expected value below was produced by running
// WDT's own PHP helper (WdtUtils::getQimenCustomWdtSign, the copy WDT ships
// with its Qimen PHP demo, found by its exact name in public repositories)
// under php-cli 8.2 on exactly these inputs, with a request object whose
// getApiParas() returns api and whose getApiMethodName() returns method.
// Those marked "Java too" were also produced, identically, by running the
// Java helper (QiMenUtils.getQimenCustomWdtSign, a public copy of WDT's
// Java WdtUtils) under OpenJDK 17, with stand-ins for the Taobao request
// class and for fastjson (Jackson with fastjson's number types); it is given
// the method without its app-key prefix, since it signs the name as is. The
// Java helper throws ClassCastException on a list of scalars inside params,
// so the vector with one is PHP's alone.
// doc_vector is also the vector of docs/wdt-api.md, which a third-party Go
// copy pins (that copy adds a null member, which it skips and PHP does not;
// see TestSignRefusesWhatHelpersDisagreeOn). No helper's code is in this
// repository; docs/wdt-api.md says how to re-run them.
var signVectors = []struct {
	name, secret, method string
	api                  map[string]string
	want                 string
}{
	{
		name: "doc_vector", secret: "secret", method: "3ldsmu02o9.wdt.wms.stockspec.querychangehistory",
		api: map[string]string{
			"datetime": "2020-09-17 19:22:26", "wdt_salt": "salt", "wdt3_customer_id": "wdtapi3", "wdt_appkey": "wdt_appkey",
			"pager":  `{"page_no":1,"page_size":10}`,
			"params": `{"end_date":"2020-09-20 00:00:00","start_date":"2020-08-23 00:00:00","warehouse_no":"1001"}`,
		},
		want: "1f5e87bbbc8bc68f4f0af70f79620b7d", // PHP; Java too
	},
	{
		name: "prestockin_search", secret: "wdtsecret", method: "wdt.wms.stockin.prestockin.search",
		api: map[string]string{
			"datetime": "2026-12-06 21:53:24", "wdt_appkey": "wdt-appkey", "wdt_salt": "wdtsalt", "wdt3_customer_id": "sid0",
			"pager":  `{"page_no":1,"page_size":50}`,
			"params": `{"mt_from":"2026-11-06 21:53:24","mt_to":"2026-12-06 21:54:24","stockin_no":"RK2009290023"}`,
		},
		want: "d4628c1efb631acd725f461d4a4724c0", // PHP; Java too
	},
	{
		// The same call with an app-key prefix on the method: the prefix is
		// not signed, so the signature is the one above.
		name: "prestockin_search_prefixed", secret: "wdtsecret", method: "21363512.wdt.wms.stockin.prestockin.search",
		api: map[string]string{
			"datetime": "2026-12-06 21:53:24", "wdt_appkey": "wdt-appkey", "wdt_salt": "wdtsalt", "wdt3_customer_id": "sid0",
			"pager":  `{"page_no":1,"page_size":50}`,
			"params": `{"mt_from":"2026-11-06 21:53:24","mt_to":"2026-12-06 21:54:24","stockin_no":"RK2009290023"}`,
		},
		want: "d4628c1efb631acd725f461d4a4724c0", // PHP; Java too (given the method unprefixed)
	},
	{
		// Nested objects (unsorted on the wire), a list of objects, a list
		// of scalars, booleans, unicode, a 64-bit integer, zero, negatives,
		// empty object and list.
		name: "nested_lists_bools_unicode_numbers", secret: "s3cr3t", method: "wdt.wms.stockin.prestockin.search",
		api: map[string]string{
			"datetime": "2026-01-02 03:04:05", "wdt_appkey": "k", "wdt_salt": "salt", "wdt3_customer_id": "c",
			"pager":  `{"page_size":20,"page_no":3}`,
			"params": `{"stockin_no":"RK-1","remark":"退货 ünïcode ✓","nested":{"b":2,"a":{"z":true,"y":false}},"list":[{"k":"v1"},{"n":-3,"k":"v2"}],"tags":["x","y",7],"big":9007199254740993,"zero":0,"neg":-2,"empty_obj":{},"empty_list":[],"flag":true,"off":false}`,
		},
		want: "afeb3c2e3cc3b41084ec995f8385219d", // PHP; Java throws on the list of scalars (tags)
	},
	{
		// The same without the list of scalars: WDT's PHP and Java
		// helpers agree.
		name: "nested_objects_no_scalar_lists", secret: "s3cr3t", method: "wdt.wms.stockin.prestockin.search",
		api: map[string]string{
			"datetime": "2026-01-02 03:04:05", "wdt_appkey": "k", "wdt_salt": "salt", "wdt3_customer_id": "c",
			"pager":  `{"page_size":20,"page_no":3}`,
			"params": `{"stockin_no":"RK-1","remark":"退货 ünïcode ✓","nested":{"b":2,"a":{"z":true,"y":false}},"list":[{"k":"v1"},{"n":-3,"k":"v2"}],"big":9007199254740993,"zero":0,"neg":-2,"empty_obj":{},"empty_list":[],"flag":true,"off":false}`,
		},
		want: "2ab7412b062e93020c354fe41db14ca0", // PHP; Java too
	},
	{
		// A string member holding JSON is decoded too; text that is only
		// number- or boolean-shaped, or not JSON, is signed as text.
		name: "string_holding_json", secret: "s3cr3t", method: "wdt.wms.stockin.prestockin.search",
		api: map[string]string{
			"datetime": "2026-01-02 03:04:05", "wdt_appkey": "k", "wdt_salt": "salt",
			"pager":  `{"page_no":1,"page_size":1}`,
			"params": `{"inner":"{\"b\":1,\"a\":\"x\"}","numeric_text":"00123","number_text":"123","true_text":"true","list_text":"[\"p\",\"q\"]"}`,
		},
		want: "ce4771538243f7d7d81987d0ae6a1756", // PHP; Java too
	},
	{
		name: "wdt_sign_and_customer_id_excluded", secret: "s3cr3t", method: "wdt.wms.stockin.prestockin.search",
		api: map[string]string{
			"datetime": "2026-01-02 03:04:05", "wdt_appkey": "k", "wdt_salt": "salt", "wdt_sign": "ignored", "wdt3_customer_id": "ignored",
			"pager": `{"page_no":1,"page_size":1}`, "params": `{"stockin_no":"X"}`,
		},
		want: "72beb5c24bed390cec6dc30cb3bd2945", // PHP; Java too
	},
}

func TestSignVectors(t *testing.T) {
	for _, v := range signVectors {
		t.Run(v.name, func(t *testing.T) {
			got, err := Sign(v.secret, v.method, v.api)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if got != v.want {
				t.Fatalf("Sign = %s, WDT's PHP helper says %s", got, v.want)
			}
		})
	}
}

// Signing must not depend on anything but the values: the same parameters
// with one value changed must sign differently (a signer that ignored
// params would pass the vectors above only by luck, never this).
func TestSignCoversEveryValue(t *testing.T) {
	base := signVectors[1]
	want, _ := Sign(base.secret, base.method, base.api)
	for k := range base.api {
		if excludedFromWdtSign[k] {
			continue
		}
		api := map[string]string{}
		for kk, vv := range base.api {
			api[kk] = vv
		}
		api[k] += " "
		if k == "params" || k == "pager" {
			api[k] = base.api[k][:len(base.api[k])-1] + `,"zz":"1"}`
		}
		got, err := Sign(base.secret, base.method, api)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if got == want {
			t.Errorf("changing %s did not change the signature", k)
		}
	}
}

// What WDT's helpers sign differently is refused, never guessed. The
// helpers' signatures for these inputs (method wdt.x, secret s3cr3t,
// datetime d), for the record (docs/wdt-api.md):
// {"a":1.50,"b":2.0,"c":1e2}: PHP 51320961440766180809c90fe901d7f1 (it
// signs 1.5, 2 and 100), Java a955cca2d65115ef333bd37a4e5fc32c (1.50, 2.0,
// 100); {"a":null,"b":"x"}: PHP 421208339046dc59b0fe06b0a6f8d01e (it signs
// the key), Java d37159b1577164829f2ca5ef75f5783e (it skips it, as C#
// does); {"a":[true,false,"x"]}: PHP 1cce4e1f749b2f035e273f0cd6141bd9 (it
// signs 1 and nothing), Java throws, C# would sign True and False.
func TestSignRefusesWhatHelpersDisagreeOn(t *testing.T) {
	for _, params := range []string{
		`{"a":1.50}`, `{"a":2.0}`, `{"a":1e2}`, `{"a":-0}`, `{"a":null,"b":"x"}`,
		`{"a":[true,false,"x"]}`, `{"a":[[1]]}`, `{"0":"x"}`, `{"a":"1","a":"2"}`,
		`{"a":99999999999999999999}`, `{"a":"{\"b\":null}"}`,
	} {
		_, err := Sign("s", "wdt.x", map[string]string{"params": params})
		if !errors.Is(err, ErrUnsignable) {
			t.Errorf("params %s: err = %v, want ErrUnsignable", params, err)
		}
	}
	// Text that only looks like JSON is signed as text, as every helper does.
	if _, err := Sign("s", "wdt.x", map[string]string{"params": `{not json}`}); err != nil {
		t.Errorf("invalid JSON text: %v", err)
	}
}

func TestWdtMethod(t *testing.T) {
	for in, want := range map[string]string{
		"wdt.wms.stockin.prestockin.search":               "wdt.wms.stockin.prestockin.search",
		"3ldsmu02o9.wdt.wms.stockspec.querychangehistory": "wdt.wms.stockspec.querychangehistory",
		"nodot": "nodot",
	} {
		if got := WdtMethod(in); got != want {
			t.Errorf("WdtMethod(%q) = %q, want %q", in, got, want)
		}
	}
}

// The outer (TOP md5) vectors, produced by running the generateSign of the
// Qimen PHP SDK's QimenCloudClient (the Taobao TOP PHP SDK's signing) under
// php-cli 8.2 on these parameters and secrets.
var topVectors = []struct {
	name, secret string
	params       map[string]string
	want         string
}{
	{
		name: "system_and_api_params", secret: "qimen-secret",
		params: map[string]string{
			"app_key": "qm-appkey", "method": "wdt.wms.stockin.prestockin.search", "format": "json", "v": "2.0", "sign_method": "md5",
			"timestamp": "2026-12-06 21:53:24", "target_app_key": "target-key", "datetime": "2026-12-06 21:53:24",
			"wdt_appkey": "wdt-appkey", "wdt_salt": "wdtsalt", "wdt3_customer_id": "sid0", "wdt_sign": "0123456789abcdef0123456789abcdef",
			"pager":  `{"page_no":1,"page_size":50}`,
			"params": `{"mt_from":"2026-11-06 21:53:24","mt_to":"2026-12-06 21:54:24","stockin_no":"RK2009290023"}`,
		},
		want: "DB417F97C0B0EF99FC122AD6C5077C96",
	},
	{
		name: "unicode_secret_and_value", secret: "密钥secret",
		params: map[string]string{
			"app_key": "k", "method": "m", "format": "json", "v": "2.0", "sign_method": "md5", "timestamp": "2026-01-02 03:04:05",
			"target_app_key": "t", "remark": "退货 ✓", "a": "1",
		},
		want: "BDDCFD12B3AF8012C7CA79742A2FF1AA",
	},
}

func TestTopSignVectors(t *testing.T) {
	for _, v := range topVectors {
		t.Run(v.name, func(t *testing.T) {
			if got := TopSign(v.secret, v.params); got != v.want {
				t.Fatalf("TopSign = %s, the Qimen PHP SDK says %s", got, v.want)
			}
			// sign itself is never signed.
			p := map[string]string{"sign": "whatever"}
			for k, val := range v.params {
				p[k] = val
			}
			if got := TopSign(v.secret, p); got != v.want {
				t.Fatalf("TopSign with a sign parameter = %s, want %s", got, v.want)
			}
		})
	}
}
