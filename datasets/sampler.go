package datasets

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Strategy decides which task each example of a multi-task stream comes from.
type Strategy int

const (
	Proportional Strategy = iota // p_t ∝ n_t: tasks as often as they have examples
	Temperature                  // p_t ∝ n_t^(1/T): T = 1 is proportional, large T approaches uniform
	Uniform                      // p_t = 1/T, drawn at random
	RoundRobin                   // tasks in turn: 0, 1, …, T−1, 0, …
	Quota                        // fixed numbers of examples per task in every cycle, in a shuffled order
)

var strategyNames = []string{"proportional", "temperature", "uniform", "round-robin", "quota"}

func (s Strategy) String() string {
	if int(s) < len(strategyNames) {
		return strategyNames[s]
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// ParseStrategy reads a strategy name (as String writes it).
func ParseStrategy(s string) (Strategy, error) {
	for i, n := range strategyNames {
		if n == s {
			return Strategy(i), nil
		}
	}
	return 0, fmt.Errorf("datasets: unknown sampling strategy %q (expected %s)", s, strings.Join(strategyNames, ", "))
}

// MarshalText writes the strategy's name.
func (s Strategy) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(strategyNames) {
		return nil, fmt.Errorf("datasets: unknown sampling strategy %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a strategy name, rejecting unknown ones.
func (s *Strategy) UnmarshalText(b []byte) error {
	v, err := ParseStrategy(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// SamplerConfig configures a Sampler.
type SamplerConfig struct {
	Strategy    Strategy `json:"strategy"`
	Temperature float64  `json:"temperature,omitempty"` // T of the Temperature strategy (> 0)
	Quotas      []int    `json:"quotas,omitempty"`      // examples of each task per cycle, for Quota
	Seed        uint64   `json:"seed"`
}

// Sampler draws a deterministic stream of (task, example) pairs from per-task pools of example indices.
// Within a task, examples come in a shuffled order that is reshuffled every time the task's pool is used up
// (a task epoch), so every example is seen once per task epoch. The stream depends only on the pools, the
// configuration and the seed: the same on every run and machine.
type Sampler struct {
	cfg    SamplerConfig
	pools  [][]int
	probs  []float64
	cum    []float64
	rng    *rand.Rand
	order  [][]int // current shuffled order per task
	pos    []int   // next position in order
	epochs []int   // completed task epochs
	step   int     // draws so far (round-robin and quota position)
	cycle  []int   // quota: the current cycle's task sequence
}

// NewSampler checks the configuration against the pools (pools[t] lists task t's example indices).
func NewSampler(pools [][]int, cfg SamplerConfig) (*Sampler, error) {
	if len(pools) == 0 {
		return nil, fmt.Errorf("datasets: sampler: no tasks")
	}
	for t, p := range pools {
		if len(p) == 0 {
			return nil, fmt.Errorf("datasets: sampler: task %d has no examples in this split", t)
		}
	}
	s := &Sampler{cfg: cfg, pools: pools, probs: make([]float64, len(pools)), order: make([][]int, len(pools)),
		pos: make([]int, len(pools)), epochs: make([]int, len(pools))}
	switch cfg.Strategy {
	case Proportional, Temperature:
		t := 1.0
		if cfg.Strategy == Temperature {
			if !(cfg.Temperature > 0) || math.IsInf(cfg.Temperature, 0) {
				return nil, fmt.Errorf("datasets: sampler: temperature must be a positive number, got %v", cfg.Temperature)
			}
			t = cfg.Temperature
		}
		var sum float64
		for i, p := range pools {
			s.probs[i] = math.Pow(float64(len(p)), 1/t)
			sum += s.probs[i]
		}
		for i := range s.probs {
			s.probs[i] /= sum
		}
	case Uniform, RoundRobin:
		for i := range s.probs {
			s.probs[i] = 1 / float64(len(pools))
		}
	case Quota:
		if len(cfg.Quotas) != len(pools) {
			return nil, fmt.Errorf("datasets: sampler: %d quotas for %d tasks", len(cfg.Quotas), len(pools))
		}
		total := 0
		for t, q := range cfg.Quotas {
			if q < 0 {
				return nil, fmt.Errorf("datasets: sampler: quota of task %d is negative (%d)", t, q)
			}
			total += q
		}
		if total == 0 {
			return nil, fmt.Errorf("datasets: sampler: every quota is 0")
		}
		for t, q := range cfg.Quotas {
			s.probs[t] = float64(q) / float64(total)
		}
	default:
		return nil, fmt.Errorf("datasets: sampler: unknown strategy %d", int(cfg.Strategy))
	}
	s.cum = make([]float64, len(s.probs))
	var c float64
	for i, p := range s.probs {
		c += p
		s.cum[i] = c
	}
	s.rng = rand.New(rand.NewPCG(cfg.Seed, 0x6d746c6f7261)) // "mtlora"
	for t := range pools {
		s.reshuffle(t)
	}
	return s, nil
}

// Probabilities returns the share of draws each task gets.
func (s *Sampler) Probabilities() []float64 { return append([]float64(nil), s.probs...) }

// Epochs returns how many times each task's pool has been used up.
func (s *Sampler) Epochs() []int { return append([]int(nil), s.epochs...) }

func (s *Sampler) reshuffle(t int) {
	r := rand.New(rand.NewPCG(s.cfg.Seed^uint64(t+1)*0x9e3779b97f4a7c15, uint64(s.epochs[t])))
	o := append(s.order[t][:0], s.pools[t]...)
	r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
	s.order[t], s.pos[t] = o, 0
}

// Next returns the next task and example index.
func (s *Sampler) Next() (task, example int) {
	switch s.cfg.Strategy {
	case RoundRobin:
		task = s.step % len(s.pools)
	case Quota:
		if len(s.cycle) == 0 {
			for t, q := range s.cfg.Quotas {
				for range q {
					s.cycle = append(s.cycle, t)
				}
			}
			s.rng.Shuffle(len(s.cycle), func(i, j int) { s.cycle[i], s.cycle[j] = s.cycle[j], s.cycle[i] })
		}
		task, s.cycle = s.cycle[0], s.cycle[1:]
	default:
		u := s.rng.Float64()
		task = len(s.cum) - 1
		for i, c := range s.cum {
			if u < c {
				task = i
				break
			}
		}
	}
	s.step++
	if s.pos[task] == len(s.order[task]) {
		s.epochs[task]++
		s.reshuffle(task)
	}
	example = s.order[task][s.pos[task]]
	s.pos[task]++
	return task, example
}
