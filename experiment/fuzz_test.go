package experiment

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/mtlora/mtlora/mtlcore"
)

// FuzzParseSweep: any bytes either fail with an error or give a valid spec that survives a JSON round
// trip unchanged and expands (or fails to) without a panic.
func FuzzParseSweep(f *testing.F) {
	for _, s := range []string{
		`{"name":"s","benchmark":"synthetic","methods":["lora","mtl-lora"],"ranks":[4],"seeds":[1],"steps":2,"batch_size":8,"learning_rate":0.01}`,
		`{"name":"s","benchmark":"mtbench","methods":["mtl-lora"],"ranks":[8],"n":[2,3],"temperatures":[0.5],"seeds":[1,2],"matched_budget":true,"steps":1,"batch_size":4,"learning_rate":1e-3,"task_weights":{"spam":2}}`,
		`{"name":"s","methods":[]}`, `{"name":"s","unknown":1}`, `[]`, `{"name":"a b"}`, `{"ranks":[-1]}`, ``,
	} {
		f.Add([]byte(s))
	}
	layers := func(mtlcore.Targets) [][2]int { return [][2]int{{16, 16}} }
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSweep(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("valid spec does not marshal: %v", err)
		}
		s2, err := ParseSweep(again)
		if err != nil {
			t.Fatalf("valid spec %s does not parse again: %v", again, err)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("round trip changed the spec:\n%+v\n%+v", s, s2)
		}
		if len(s.Methods)*len(s.Ranks)*len(s.Seeds)*max(1, len(s.N))*max(1, len(s.Temperatures))*max(1, len(s.Targets))*max(1, len(s.TaskSubsets)) > 10000 {
			return // a valid but huge grid: expanding it is slow, not wrong
		}
		_, _ = s.Expand(4, layers)
	})
}
