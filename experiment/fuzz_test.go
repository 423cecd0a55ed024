package experiment

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParsePlan: any bytes either fail with an error or give a valid plan that survives a JSON round trip
// unchanged and expands without a panic.
func FuzzParsePlan(f *testing.F) {
	for _, s := range []string{
		`{"name":"s","run":{"data":"synthetic","targets":"dense","steps":2,"batch_size":8,"learning_rate":0.01},"vary":{"method":["lora","mtl-lora"]}}`,
		`{"name":"s","run":{"data":"mtbench","method":"mtl-lora","budget_rank":8,"task_weights":{"spam":2}},"vary":{"n":[2,3],"temperature":[0.5],"seed":[1,2]}}`,
		`{"name":"s","vary":{"method":[]}}`, `{"name":"s","unknown":1}`, `[]`, `{"name":"a b"}`, `{"run":{"rank":-1}}`, ``,
		`{"name":"s","run":{"temperature":1e-45}}`, `{"name":"s","run":{"tasks":["a","a"]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlan(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("valid plan does not marshal: %v", err)
		}
		p2, err := ParsePlan(again)
		if err != nil {
			t.Fatalf("valid plan %s does not parse again: %v", again, err)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("round trip changed the plan:\n%+v\n%+v", p, p2)
		}
		if len(p.configs()) <= 1000 && p.Run.Data == Synthetic {
			_, _ = p.Runs()
		}
	})
}
