package pretrained

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// Every case of scripts/reference/chat_fixtures.py — SmolLM2's own template and three written to exercise the
// subset, three conversations each, with and without the generation prompt — renders exactly as transformers'
// apply_chat_template does, or fails with the template's own raise_exception message.
func TestChatTemplatesMatchTransformers(t *testing.T) {
	data, err := os.ReadFile("testdata/chat/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		BOS       string            `json:"bos_token"`
		EOS       string            `json:"eos_token"`
		Templates map[string]string `json:"templates"`
		Cases     []struct {
			Template string `json:"template"`
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
			Gen   bool   `json:"add_generation_prompt"`
			Text  string `json:"text"`
			Error string `json:"error"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	parsed := map[string]*ChatTemplate{}
	for name, src := range fx.Templates {
		if parsed[name], err = ParseChatTemplate(src); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for i, c := range fx.Cases {
		var msgs []ChatMessage
		for _, m := range c.Messages {
			msgs = append(msgs, ChatMessage{Role: m.Role, Content: m.Content})
		}
		got, err := parsed[c.Template].Render(msgs, c.Gen, fx.BOS, fx.EOS)
		switch {
		case c.Error != "":
			if err == nil || !errors.Is(err, ErrChatTemplate) || !strings.Contains(err.Error(), c.Error) {
				t.Errorf("case %d (%s): error %v, want the template's %q", i, c.Template, err, c.Error)
			}
		case err != nil:
			t.Errorf("case %d (%s): %v", i, c.Template, err)
		case got != c.Text:
			t.Errorf("case %d (%s, generation prompt %v):\n got  %q\n want %q", i, c.Template, c.Gen, got, c.Text)
		}
	}
}

// Constructs outside the subset are errors naming them, never a guess.
func TestChatTemplateOutsideSubset(t *testing.T) {
	for src, want := range map[string]string{
		"{% macro m() %}x{% endmacro %}":     "macro",
		"{{ messages[0:2] }}":                "slices",
		"{{ x | upper }}":                    `filter "upper"`,
		"{{ strftime_now('%Y') }}":           "calling strftime_now",
		"{% if x %}a":                        "the if at byte 0 ends with",
		"{{ 'a' ":                            "never closed",
		"{% for a, b in x %}{% endfor %}":    "only `for NAME in EXPRESSION`",
		"{{ x is string }}":                  "is defined",
		"{% endfor %}":                       "without its opening tag",
		"{% for m in messages %}{% endif %}": "not endfor",
	} {
		tmpl, err := ParseChatTemplate(src)
		if err == nil && tmpl != nil {
			_, err = tmpl.Render([]ChatMessage{{Role: "user", Content: "hi"}}, false, "", "")
		}
		if err == nil || !errors.Is(err, ErrChatTemplate) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one naming %q", src, err, want)
		}
	}
}

// SmolLM2's GGUF carries its template; the decoder reads it.
func TestSmolLM2ChatTemplate(t *testing.T) {
	d := &Decoder{File: smolLM2GGUF(t)}
	tmpl, err := d.ChatTemplate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render([]ChatMessage{{Role: "user", Content: "Hi"}}, true, "", "")
	want := "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
	if err != nil || got != want {
		t.Errorf("rendered %q, %v; want %q", got, err, want)
	}
}
