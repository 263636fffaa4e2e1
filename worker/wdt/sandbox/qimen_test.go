package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wdtcancel/wdtcancel/worker/wdt/qimen"
	"github.com/wdtcancel/wdtcancel/worker/wdt/sandbox"
)

// qimenCall signs and posts one Qimen call with the given params and pager
// JSON (nil: leave the parameter out), as the sandbox's default seller, and
// returns the envelope's response object. edit may change the parameters
// after signing.
func qimenCall(t *testing.T, base string, sb *sandbox.Sandbox, params, pager *string, edit func(sys, api url.Values)) map[string]any {
	t.Helper()
	creds, qc := sb.Credentials(), sb.QimenCredentials()
	ts := time.Now().In(qimen.China).Format(qimen.TimeLayout)
	api := map[string]string{"datetime": ts, "wdt_appkey": creds.AppKey, "wdt_salt": creds.Salt, "wdt3_customer_id": creds.SID}
	if params != nil {
		api["params"] = *params
	}
	if pager != nil {
		api["pager"] = *pager
	}
	method := qimen.MethodPreStockinSearch
	ws, err := qimen.Sign(creds.Secret, method, api)
	if err != nil {
		t.Fatal(err)
	}
	api["wdt_sign"] = ws
	sys := map[string]string{"app_key": qc.AppKey, "method": method, "format": "json", "v": "2.0", "sign_method": "md5",
		"timestamp": ts, "target_app_key": qc.TargetAppKey}
	all := map[string]string{}
	for k, v := range sys {
		all[k] = v
	}
	for k, v := range api {
		all[k] = v
	}
	sys["sign"] = qimen.TopSign(qc.AppSecret, all)
	q, f := url.Values{}, url.Values{}
	for k, v := range sys {
		q.Set(k, v)
	}
	for k, v := range api {
		f.Set(k, v)
	}
	if edit != nil {
		edit(q, f)
	}
	resp, err := http.Post(base+sandbox.QimenPath+"?"+q.Encode(), "application/x-www-form-urlencoded", strings.NewReader(f.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct {
		Response map[string]any `json:"response"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || env.Response == nil {
		t.Fatalf("answer %s is not an envelope: %v", raw, err)
	}
	return env.Response
}

func ptr(s string) *string { return &s }

func TestQimenRouteRules(t *testing.T) {
	srv, err := sandbox.NewServer(sandbox.Options{Orders: map[string]int{"RK1": 80}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()
	now := time.Now().In(qimen.China)
	window := func(from, to string, extra string) *string {
		return ptr(`{"stockin_no":"RK1",` + extra + `"` + from + `":"` + now.Add(-time.Hour).Format(qimen.TimeLayout) + `","` + to + `":"` + now.Add(time.Hour).Format(qimen.TimeLayout) + `"}`)
	}
	pager := ptr(`{"page_no":1,"page_size":10}`)
	cases := []struct {
		name          string
		params, pager *string
		edit          func(sys, api url.Values)
		flag          string
		status        float64 // -1: none
		code, message string
		total         float64
	}{
		{"modified window", window("mt_from", "mt_to", ""), pager, nil, "success", 0, "", "", 1},
		{"created window", window("ct_from", "ct_to", ""), pager, nil, "success", 0, "", "", 1},
		{"status filter excludes", window("mt_from", "mt_to", `"status":10,`), pager, nil, "success", 0, "", "", 0},
		{"no window", ptr(`{"stockin_no":"RK1"}`), pager, nil, "failure", 100, "", sandbox.MsgNeedTimeWindow, 0},
		{"demo's start_time/end_time is no window", window("start_time", "end_time", ""), pager, nil, "failure", 100, "", sandbox.MsgNeedTimeWindow, 0},
		{"page 0", window("mt_from", "mt_to", ""), ptr(`{"page_no":0,"page_size":10}`), nil, "failure", 1, "", "", 0},
		{"page too large", window("mt_from", "mt_to", ""), ptr(`{"page_no":1,"page_size":101}`), nil, "failure", 1, "", "", 0},
		{"no pager", window("mt_from", "mt_to", ""), nil, nil, "failure", 1, "", "", 0},
		{"tampered form", window("mt_from", "mt_to", ""), pager, func(_, api url.Values) { api.Set("wdt_appkey", "x") }, "failure", -1, sandbox.QimenCodeSignCheck, "", 0},
		{"tampered params, resigned outside", window("mt_from", "mt_to", ""), pager, func(sys, api url.Values) {
			api.Set("params", `{"stockin_no":"RK2"}`)
		}, "failure", -1, sandbox.QimenCodeSignCheck, "", 0},
		{"parameter twice", window("mt_from", "mt_to", ""), pager, func(sys, api url.Values) { api.Set("method", sys.Get("method")) }, "failure", -1, sandbox.QimenCodeInvalidParam, "", 0},
		{"missing sign", window("mt_from", "mt_to", ""), pager, func(sys, _ url.Values) { sys.Del("sign") }, "failure", -1, sandbox.QimenCodeMissingParam, "", 0},
		{"v 1.0", window("mt_from", "mt_to", ""), pager, func(sys, _ url.Values) { sys.Set("v", "1.0") }, "failure", -1, sandbox.QimenCodeInvalidParam, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := qimenCall(t, srv.URL, srv.Sandbox, tc.params, tc.pager, tc.edit)
			if r["flag"] != tc.flag {
				t.Fatalf("answer %v: flag %v, want %s", r, r["flag"], tc.flag)
			}
			st, has := r["status"].(float64)
			if tc.status < 0 && has || tc.status >= 0 && (!has || st != tc.status) {
				t.Fatalf("answer %v: want status %v", r, tc.status)
			}
			if tc.code != "" && r["code"] != tc.code {
				t.Fatalf("answer %v: want code %s", r, tc.code)
			}
			if tc.message != "" && r["message"] != tc.message {
				t.Fatalf("answer %v: want message %s", r, tc.message)
			}
			if tc.flag == "success" {
				if got := r["data"].(map[string]any)["total_count"]; got != tc.total {
					t.Fatalf("answer %v: total_count %v, want %v", r, got, tc.total)
				}
			}
		})
	}
}

// A multi-seller sandbox routes a Qimen call by wdt3_customer_id (the sid)
// and verifies it with that seller's secrets; each seller's orders are its
// own.
func TestMultiQimenRoutesBySID(t *testing.T) {
	m, err := sandbox.NewMultiServer([]sandbox.Options{
		{Name: "a", SID: "sid-a", AppKey: "key-a", AppSecret: "sa:ta", Orders: map[string]int{"RK1": 80}},
		{Name: "b", SID: "sid-b", AppKey: "key-b", AppSecret: "sb:tb", Orders: map[string]int{"RK1": 10},
			Qimen: sandbox.QimenOptions{AppSecret: "qimen-b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	defer http.DefaultClient.CloseIdleConnections()
	now := time.Now().In(qimen.China)
	params := ptr(`{"stockin_no":"RK1","mt_from":"` + now.Add(-time.Hour).Format(qimen.TimeLayout) + `","mt_to":"` + now.Add(time.Hour).Format(qimen.TimeLayout) + `"}`)
	pager := ptr(`{"page_no":1,"page_size":10}`)
	for name, want := range map[string]float64{"a": 80, "b": 10} {
		sb, _ := m.Seller(name)
		r := qimenCall(t, m.URL, sb, params, pager, nil)
		orders, _ := r["data"].(map[string]any)["order"].([]any)
		if len(orders) != 1 || orders[0].(map[string]any)["status"] != want {
			t.Fatalf("seller %s: answer %v, want RK1 in state %v", name, r, want)
		}
	}
	// Seller a's call under seller b's sid fails b's signature check.
	sa, _ := m.Seller("a")
	r := qimenCall(t, m.URL, sa, params, pager, func(sys, api url.Values) { api.Set("wdt3_customer_id", "sid-b") })
	if r["flag"] != "failure" {
		t.Fatalf("a's call under b's sid: %v", r)
	}
}
