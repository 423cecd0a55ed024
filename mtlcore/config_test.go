package mtlcore

import (
	"errors"
	"strings"
	"testing"
)

func TestBadConfigRejectedNamingTheField(t *testing.T) {
	mtl := DefaultConfig(MTLLoRA, 3)
	cases := []struct {
		name, field string
		edit        func(*Config)
		dIn, dOut   int
		want        error
	}{
		{"temperature zero", "temperature", func(c *Config) { c.Temperature = 0 }, 16, 16, ErrInvalidConfig},
		{"temperature negative", "temperature", func(c *Config) { c.Temperature = -1 }, 16, 16, ErrInvalidConfig},
		{"rank zero", "rank", func(c *Config) { c.Rank = 0 }, 16, 16, ErrInvalidConfig},
		{"rank negative", "rank", func(c *Config) { c.Rank = -3 }, 16, 16, ErrInvalidConfig},
		{"rank larger than layer", "rank", func(c *Config) { c.Rank = 17 }, 16, 32, ErrInvalidConfig},
		{"n zero", "n", func(c *Config) { c.N = 0 }, 16, 16, ErrInvalidConfig},
		{"zero tasks", "num_tasks", func(c *Config) { c.NumTasks = 0 }, 16, 16, ErrInvalidConfig},
		{"no targets", "targets", func(c *Config) { c.Targets = 0 }, 16, 16, ErrUnknownTarget},
		{"unknown target bit", "targets", func(c *Config) { c.Targets = 1 << 20 }, 16, 16, ErrUnknownTarget},
		{"alpha zero", "alpha", func(c *Config) { c.Alpha = 0 }, 16, 16, ErrInvalidConfig},
		{"dropout one", "dropout", func(c *Config) { c.Dropout = 1 }, 16, 16, ErrInvalidConfig},
		{"unknown method", "method", func(c *Config) { c.Method = 99 }, 16, 16, ErrInvalidConfig},
		{"moelora rank not multiple of n", "rank", func(c *Config) { *c = DefaultConfig(MoELoRA, 3); c.Rank = 8 }, 16, 16, ErrInvalidConfig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := mtl
			c.edit(&cfg)
			err := cfg.ValidateLayer(c.dIn, c.dOut)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), "field "+c.field) {
				t.Errorf("got %v, want %v naming field %s", err, c.want, c.field)
			}
			if _, err := NewInjector(cfg); err == nil && c.dIn == 16 && c.name != "rank larger than layer" {
				t.Errorf("NewInjector accepted %s", c.name)
			}
		})
	}
	for _, m := range Methods() {
		if err := DefaultConfig(m, 2).Validate(); err != nil {
			t.Errorf("DefaultConfig(%s) is invalid: %v", m, err)
		}
	}
}

func TestParseTargetsAndConfigJSON(t *testing.T) {
	got, err := ParseTargets("q, v,ffn")
	if err != nil || got != TargetQuery|TargetValue|TargetFFN {
		t.Errorf("ParseTargets = %v, %v", got, err)
	}
	if _, err := ParseTargets("q,query_proj"); !errors.Is(err, ErrUnknownTarget) || !strings.Contains(err.Error(), `"query_proj"`) {
		t.Errorf("unknown target: %v", err)
	}
	cfg := DefaultConfig(MTLLoRA, 4)
	js, err := cfg.MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig(js)
	if err != nil || back.Method != MTLLoRA || back.Targets != cfg.Targets || back.Temperature != 0.1 {
		t.Errorf("round trip: %+v, %v\n%s", back, err, js)
	}
	if _, err := ParseConfig([]byte(`{"method":"mtl-lora","rank":8,"alpha":16,"num_tasks":2,"targets":"q","n":2,"temperature":0.1,"tau":1}`)); err == nil || !strings.Contains(err.Error(), "tau") {
		t.Errorf("unknown JSON field accepted: %v", err)
	}
	if _, err := ParseConfig([]byte(`{"method":"mtl-lora","rank":8,"alpha":16,"num_tasks":2,"targets":"q","n":2,"temperature":0}`)); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("τ=0 accepted from JSON: %v", err)
	}
}

func TestCheckTaskIDs(t *testing.T) {
	if err := CheckTaskIDs([]int32{0, 1, 2, 1}, 3); err != nil {
		t.Errorf("valid ids rejected: %v", err)
	}
	for _, ids := range [][]int32{{0, 3}, {-1}} {
		err := CheckTaskIDs(ids, 3)
		if !errors.Is(err, ErrUnknownTask) || !strings.Contains(err.Error(), "expected 0..2") {
			t.Errorf("ids %v: got %v", ids, err)
		}
	}
}
