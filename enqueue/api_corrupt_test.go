package enqueue

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/store"
	"github.com/wdtcancel/wdtcancel/tasks"
)

// A dead-letter record that is not a record must not turn GET into a 200
// with an empty body (the status line went out before encoding failed).
func TestAPIGetCorruptRecordIsAJSONError(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t)
	srv := httptest.NewServer(NewAPI(c, APIOptions{Token: "tok3n"}))
	defer srv.Close()
	for no, raw := range map[string]string{"BAD1": "{not json", "BAD2": `"a string"`} {
		if err := c.rdb.HSet(context.Background(), store.DeadLetterKey(tasks.DefaultQueue), no, raw).Err(); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", srv.URL+"/v1/cancellations/"+no, nil)
		req.Header.Set("Authorization", "Bearer tok3n")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got map[string]string
		if resp.StatusCode != http.StatusInternalServerError || json.Unmarshal(body, &got) != nil || !strings.Contains(got["error"], "corrupt") {
			t.Errorf("%s: %d %q; want 500 with a JSON error saying corrupt", no, resp.StatusCode, body)
		}
	}
	if _, err := c.Status(context.Background(), "BAD1"); err == nil {
		t.Fatal("Status of a corrupt record: no error")
	}
}
