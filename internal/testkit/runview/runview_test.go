package runview

import (
	"os"
	"testing"

	"github.com/wdtcancel/wdtcancel/internal/reconcile"
	"github.com/wdtcancel/wdtcancel/tasks/outcome"
)

func TestOrdersAndDLQ(t *testing.T) {
	path := WriteOrders(t, t.TempDir(), []string{"B", "A", "C"}, map[string]int{"A": 20, "B": 80})
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "B 80\nA 20\n" {
		t.Fatalf("%q %v", b, err)
	}
	dead := ParseDLQ(t, `[{"pre_stockin_no":"B","category":"rejected","ambiguous":true,"attempts":2}]`)
	if want := (reconcile.DeadLetter{PreStockinNo: "B", Category: outcome.Rejected, Ambiguous: true}); len(dead) != 1 || dead["B"] != want {
		t.Fatalf("%+v", dead)
	}
}
