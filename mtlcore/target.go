package mtlcore

import (
	"fmt"
	"math/bits"
	"strings"
)

// Targets is a set of linear-layer roles that receive an adapter. Models tag each of their linear layers
// with one role (see Injector.Dense); the adapter configuration selects roles, never module-path strings.
type Targets uint32

const (
	TargetQuery      Targets = 1 << iota // attention query projection
	TargetKey                            // attention key projection
	TargetValue                          // attention value projection
	TargetAttnOutput                     // attention output projection
	TargetFFNIn                          // feed-forward up (intermediate) projection
	TargetFFNOut                         // feed-forward down (output) projection
	TargetDense                          // any other linear layer (e.g. a single-layer model, a pooler)
	TargetFFNGate                        // feed-forward gate projection of a gated (SwiGLU) feed-forward
	targetEnd

	// TargetAttention is q, k, v and o.
	TargetAttention = TargetQuery | TargetKey | TargetValue | TargetAttnOutput
	// TargetFFN is the feed-forward projections: in (LLaMA's up), out (down) and gate.
	TargetFFN = TargetFFNIn | TargetFFNOut | TargetFFNGate
	// TargetAll is every role.
	TargetAll = targetEnd - 1
)

var targetNames = []string{"q", "k", "v", "o", "ffn_in", "ffn_out", "dense", "ffn_gate"}

// Validate rejects bits outside the defined roles.
func (t Targets) Validate() error {
	if t&^TargetAll != 0 {
		return fmt.Errorf("%w: field targets: bits %#x are not a defined target", ErrUnknownTarget, uint32(t&^TargetAll))
	}
	return nil
}

// Has reports whether every role in r is selected.
func (t Targets) Has(r Targets) bool { return r != 0 && t&r == r }

// Len is the number of roles selected.
func (t Targets) Len() int { return bits.OnesCount32(uint32(t)) }

// String lists the roles, comma separated, e.g. "q,v".
func (t Targets) String() string {
	var parts []string
	for i, n := range targetNames {
		if t&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if rest := t &^ TargetAll; rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(rest)))
	}
	return strings.Join(parts, ",")
}

// ParseTargets reads a comma-separated list of role names: q, k, v, o, ffn_in, ffn_out, ffn_gate, dense, or the
// groups attention, ffn and all. Unknown names are an error naming them.
func ParseTargets(s string) (Targets, error) {
	var t Targets
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		if part == "" {
			continue
		}
		switch part {
		case "attention":
			t |= TargetAttention
			continue
		case "ffn":
			t |= TargetFFN
			continue
		case "all":
			t |= TargetAll
			continue
		}
		found := false
		for i, n := range targetNames {
			if part == n {
				t |= 1 << i
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("%w: field targets: %q is not a target, expected one of %s, attention, ffn, all",
				ErrUnknownTarget, part, strings.Join(targetNames, ", "))
		}
	}
	if t == 0 {
		return 0, fmt.Errorf("%w: field targets: empty selection %q", ErrUnknownTarget, s)
	}
	return t, nil
}

func (t Targets) MarshalText() ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return []byte(t.String()), nil
}

func (t *Targets) UnmarshalText(b []byte) error {
	v, err := ParseTargets(string(b))
	*t = v
	return err
}
