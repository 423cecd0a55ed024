package pretrained

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// ChatMessage is one turn of a conversation: role (system, user, assistant) and content.
type ChatMessage struct {
	Role, Content string
}

// ChatTemplate is a checkpoint's chat template — the Jinja text a GGUF holds in tokenizer.chat_template and a
// Hugging Face tokenizer_config.json in chat_template — parsed by the subset of Jinja that chat templates of
// LLaMA-family models use, with transformers' settings (trim_blocks: the newline after a block tag is
// dropped; lstrip_blocks: spaces and tabs before a block tag on its line are dropped): text; {{ expression }}; {% if %} / {% elif %} / {% else %} / {% endif %};
// {% for name in expression %} / {% endfor %} with loop.first, loop.last, loop.index, loop.index0;
// {% set name = expression %}; comments; the - that trims white space beside a tag. Expressions: string,
// number, true/false/none and list literals, names, x.key, x['key'], x[0], + and ~ (concatenation), ==, !=, in,
// not in, and, or, not, parentheses, "is defined" / "is not defined", the filters trim and length, and
// raise_exception(message). Anything else is an error naming it, at parse or at render time — never a guess.
type ChatTemplate struct {
	Source string
	nodes  []tmplNode
}

// ErrChatTemplate is wrapped by every error about a chat template: its syntax, a construct outside the
// subset, a value of the wrong kind, or the template's own raise_exception.
var ErrChatTemplate = errors.New("pretrained: chat template")

// ParseChatTemplate parses a template's source.
func ParseChatTemplate(src string) (*ChatTemplate, error) {
	toks, err := lexTemplate(src)
	if err != nil {
		return nil, err
	}
	p := &tmplParser{toks: toks}
	nodes, end, err := p.block()
	if err != nil {
		return nil, err
	}
	if end != "" {
		return nil, fmt.Errorf("%w: {%% %s %%} without its opening tag", ErrChatTemplate, end)
	}
	return &ChatTemplate{Source: src, nodes: nodes}, nil
}

// Render writes messages as the template does; addGenerationPrompt asks for the opening of the assistant's
// turn at the end, as transformers' apply_chat_template(add_generation_prompt=True). bos and eos are the
// tokenizer's special tokens as text (bos_token, eos_token in the template).
func (t *ChatTemplate) Render(messages []ChatMessage, addGenerationPrompt bool, bos, eos string) (string, error) {
	var msgs []any
	for _, m := range messages {
		msgs = append(msgs, map[string]any{"role": m.Role, "content": m.Content})
	}
	scope := map[string]any{"messages": msgs, "add_generation_prompt": addGenerationPrompt, "bos_token": bos, "eos_token": eos}
	var b strings.Builder
	if err := renderNodes(t.nodes, scope, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

// ChatTemplate is the decoder's chat template: from a GGUF's tokenizer.chat_template, or from a Hugging Face
// directory's tokenizer_config.json (chat_template) or chat_template.jinja. A checkpoint without one is an
// error naming where it looked.
func (d *Decoder) ChatTemplate() (*ChatTemplate, error) {
	if d.File != nil {
		src, ok := d.File.Meta["tokenizer.chat_template"].(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s has no tokenizer.chat_template", ErrChatTemplate, d.Path)
		}
		return ParseChatTemplate(src)
	}
	if data, err := os.ReadFile(filepath.Join(d.Path, "chat_template.jinja")); err == nil {
		return ParseChatTemplate(string(data))
	}
	data, err := os.ReadFile(filepath.Join(d.Path, "tokenizer_config.json"))
	if err != nil {
		return nil, fmt.Errorf("%w: %s has neither chat_template.jinja nor tokenizer_config.json", ErrChatTemplate, d.Path)
	}
	var cfg struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrChatTemplate, filepath.Join(d.Path, "tokenizer_config.json"), err)
	}
	var src string
	if len(cfg.ChatTemplate) == 0 || json.Unmarshal(cfg.ChatTemplate, &src) != nil {
		return nil, fmt.Errorf("%w: %s: chat_template is missing or not a single template (named templates are not supported)",
			ErrChatTemplate, filepath.Join(d.Path, "tokenizer_config.json"))
	}
	return ParseChatTemplate(src)
}

// The lexer splits a template into text and tags, applying the - white-space control.

type tmplToken struct {
	kind string // "text", "expr" ({{ }}), "stmt" ({% %})
	text string
	pos  int // byte offset in the source, for errors
}

func lexTemplate(src string) ([]tmplToken, error) {
	var toks []tmplToken
	trimNext := false
	for i := 0; i < len(src); {
		j := len(src) - i // the next tag's offset from i: the first "{{", "{%" or "{#"
		for k := i; k+1 < len(src); k++ {
			if src[k] == '{' && strings.IndexByte("{%#", src[k+1]) >= 0 {
				j = k - i
				break
			}
		}
		text := src[i : i+j]
		if trimNext {
			text = strings.TrimLeftFunc(text, unicode.IsSpace)
		}
		trimNext = false
		start := i + j
		if start >= len(src) {
			if text != "" {
				toks = append(toks, tmplToken{"text", text, i})
			}
			break
		}
		open := src[start : start+2]
		closeTag := map[string]string{"{{": "}}", "{%": "%}", "{#": "#}"}[open]
		body := start + 2
		if body < len(src) && src[body] == '-' {
			text = strings.TrimRightFunc(text, unicode.IsSpace)
			body++
		} else if open != "{{" { // lstrip_blocks: spaces and tabs from the line's start to a block tag go
			line := strings.LastIndexByte(text, '\n') + 1
			atLineStart := line > 0 || i == 0 || src[i-1] == '\n'
			if atLineStart && strings.Trim(text[line:], " \t") == "" {
				text = text[:line]
			}
		}
		if text != "" {
			toks = append(toks, tmplToken{"text", text, i})
		}
		end := strings.Index(src[body:], closeTag)
		if end < 0 {
			return nil, fmt.Errorf("%w: %s at byte %d is never closed by %s", ErrChatTemplate, open, start, closeTag)
		}
		inner := src[body : body+end]
		if strings.HasSuffix(inner, "-") {
			inner, trimNext = inner[:len(inner)-1], true
		}
		switch open {
		case "{{":
			toks = append(toks, tmplToken{"expr", strings.TrimSpace(inner), start})
		case "{%":
			toks = append(toks, tmplToken{"stmt", strings.TrimSpace(inner), start})
		}
		i = body + end + 2
		if open != "{{" && !trimNext && i < len(src) && src[i] == '\n' { // trim_blocks: a block tag's newline goes
			i++
		}
	}
	return toks, nil
}

// Nodes of a parsed template.

type tmplNode interface{}

type textNode struct{ text string }
type exprNode struct{ e tmplExpr }
type ifNode struct {
	conds  []tmplExpr // one per branch; a nil condition is else
	blocks [][]tmplNode
}
type forNode struct {
	name string
	seq  tmplExpr
	body []tmplNode
}
type setNode struct {
	name string
	e    tmplExpr
}

type tmplParser struct {
	toks []tmplToken
	i    int
}

// block parses nodes up to an end tag (endif, elif, else, endfor) or the end, returning the tag's text.
func (p *tmplParser) block() ([]tmplNode, string, error) {
	var nodes []tmplNode
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		p.i++
		switch t.kind {
		case "text":
			nodes = append(nodes, textNode{t.text})
		case "expr":
			e, err := parseExpr(t.text, t.pos)
			if err != nil {
				return nil, "", err
			}
			nodes = append(nodes, exprNode{e})
		case "stmt":
			word, rest, _ := strings.Cut(t.text, " ")
			rest = strings.TrimSpace(rest)
			switch word {
			case "endif", "endfor", "else", "elif":
				return nodes, t.text, nil
			case "if":
				n, err := p.ifChain(rest, t.pos)
				if err != nil {
					return nil, "", err
				}
				nodes = append(nodes, n)
			case "for":
				name, seq, ok := strings.Cut(rest, " in ")
				name = strings.TrimSpace(name)
				if !ok || !isIdent(name) {
					return nil, "", fmt.Errorf("%w: {%% for %s %%} at byte %d: only `for NAME in EXPRESSION` is supported", ErrChatTemplate, rest, t.pos)
				}
				e, err := parseExpr(seq, t.pos)
				if err != nil {
					return nil, "", err
				}
				body, end, err := p.block()
				if err != nil {
					return nil, "", err
				}
				if end != "endfor" {
					return nil, "", fmt.Errorf("%w: the for at byte %d ends with {%% %s %%}, not endfor", ErrChatTemplate, t.pos, end)
				}
				nodes = append(nodes, forNode{name, e, body})
			case "set":
				name, value, ok := strings.Cut(rest, "=")
				name = strings.TrimSpace(name)
				if !ok || !isIdent(name) {
					return nil, "", fmt.Errorf("%w: {%% set %s %%} at byte %d: only `set NAME = EXPRESSION` is supported", ErrChatTemplate, rest, t.pos)
				}
				e, err := parseExpr(value, t.pos)
				if err != nil {
					return nil, "", err
				}
				nodes = append(nodes, setNode{name, e})
			default:
				return nil, "", fmt.Errorf("%w: {%% %s %%} at byte %d is outside the supported subset (if, for, set)", ErrChatTemplate, word, t.pos)
			}
		}
	}
	return nodes, "", nil
}

func (p *tmplParser) ifChain(cond string, pos int) (tmplNode, error) {
	var n ifNode
	for {
		var c tmplExpr
		if cond != "" {
			e, err := parseExpr(cond, pos)
			if err != nil {
				return nil, err
			}
			c = e
		}
		body, end, err := p.block()
		if err != nil {
			return nil, err
		}
		n.conds, n.blocks = append(n.conds, c), append(n.blocks, body)
		word, rest, _ := strings.Cut(end, " ")
		switch {
		case word == "endif":
			return n, nil
		case word == "elif" && c != nil:
			cond = strings.TrimSpace(rest)
		case word == "else" && c != nil:
			cond = ""
		default:
			return nil, fmt.Errorf("%w: the if at byte %d ends with {%% %s %%}", ErrChatTemplate, pos, end)
		}
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || unicode.IsLetter(r) || i > 0 && unicode.IsDigit(r)) {
			return false
		}
	}
	return true
}

// Expressions.

type tmplExpr interface {
	eval(scope map[string]any) (any, error)
}

type litExpr struct{ v any }
type nameExpr struct{ name string }
type indexExpr struct{ x, key tmplExpr }
type binExpr struct {
	op   string
	l, r tmplExpr
}
type notExpr struct{ x tmplExpr }
type filterExpr struct {
	x    tmplExpr
	name string
}
type definedExpr struct {
	x      tmplExpr
	negate bool
}
type raiseExpr struct{ msg tmplExpr }
type listExpr struct{ items []tmplExpr }

func (e listExpr) eval(scope map[string]any) (any, error) {
	out := make([]any, len(e.items))
	for i, x := range e.items {
		v, err := x.eval(scope)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// undefined is the value of a name or key that does not exist: false in a test, "" in output (as Jinja's).
type undefined struct{}

func (e litExpr) eval(map[string]any) (any, error) { return e.v, nil }

func (e nameExpr) eval(scope map[string]any) (any, error) {
	if v, ok := scope[e.name]; ok {
		return v, nil
	}
	return undefined{}, nil
}

func (e indexExpr) eval(scope map[string]any) (any, error) {
	x, err := e.x.eval(scope)
	if err != nil {
		return nil, err
	}
	k, err := e.key.eval(scope)
	if err != nil {
		return nil, err
	}
	switch x := x.(type) {
	case map[string]any:
		if s, ok := k.(string); ok {
			if v, ok := x[s]; ok {
				return v, nil
			}
			return undefined{}, nil
		}
	case []any:
		if i, ok := k.(int); ok {
			if i < 0 {
				i += len(x)
			}
			if i >= 0 && i < len(x) {
				return x[i], nil
			}
			return undefined{}, nil
		}
	case undefined:
		return nil, fmt.Errorf("%w: indexing an undefined value with %v", ErrChatTemplate, k)
	}
	return nil, fmt.Errorf("%w: cannot index %T with %v", ErrChatTemplate, x, k)
}

func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v != ""
	case int:
		return v != 0
	case []any:
		return len(v) > 0
	case map[string]any:
		return len(v) > 0
	case nil, undefined:
		return false
	}
	return true
}

func (e binExpr) eval(scope map[string]any) (any, error) {
	l, err := e.l.eval(scope)
	if err != nil {
		return nil, err
	}
	switch e.op { // short-circuit
	case "and":
		if !truthy(l) {
			return false, nil
		}
	case "or":
		if truthy(l) {
			return true, nil
		}
	}
	r, err := e.r.eval(scope)
	if err != nil {
		return nil, err
	}
	switch e.op {
	case "and", "or":
		return truthy(r), nil
	case "==", "!=":
		eq := fmt.Sprintf("%T %v", l, l) == fmt.Sprintf("%T %v", r, r)
		return eq == (e.op == "=="), nil
	case "in", "not in":
		found := false
		switch r := r.(type) {
		case string:
			s, ok := l.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %v in a string: only strings", ErrChatTemplate, l)
			}
			found = strings.Contains(r, s)
		case []any:
			for _, x := range r {
				found = found || fmt.Sprintf("%T %v", x, x) == fmt.Sprintf("%T %v", l, l)
			}
		case map[string]any:
			s, _ := l.(string)
			_, found = r[s]
		default:
			return nil, fmt.Errorf("%w: `in` needs a string, list or mapping, got %T", ErrChatTemplate, r)
		}
		return found == (e.op == "in"), nil
	case "+":
		if a, ok := l.(int); ok {
			if b, ok := r.(int); ok {
				return a + b, nil
			}
		}
		a, aok := l.(string)
		b, bok := r.(string)
		if !aok || !bok {
			return nil, fmt.Errorf("%w: + of %T and %T (strings or integers only)", ErrChatTemplate, l, r)
		}
		return a + b, nil
	case "~":
		return toText(l) + toText(r), nil
	}
	return nil, fmt.Errorf("%w: operator %s", ErrChatTemplate, e.op)
}

func (e notExpr) eval(scope map[string]any) (any, error) {
	v, err := e.x.eval(scope)
	if err != nil {
		return nil, err
	}
	return !truthy(v), nil
}

func (e filterExpr) eval(scope map[string]any) (any, error) {
	v, err := e.x.eval(scope)
	if err != nil {
		return nil, err
	}
	switch e.name {
	case "trim":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%w: trim of %T", ErrChatTemplate, v)
		}
		return strings.TrimSpace(s), nil
	case "length":
		switch v := v.(type) {
		case string:
			return len([]rune(v)), nil
		case []any:
			return len(v), nil
		case map[string]any:
			return len(v), nil
		}
		return nil, fmt.Errorf("%w: length of %T", ErrChatTemplate, v)
	}
	return nil, fmt.Errorf("%w: filter %q is outside the supported subset (trim, length)", ErrChatTemplate, e.name)
}

func (e definedExpr) eval(scope map[string]any) (any, error) {
	v, err := e.x.eval(scope)
	if err != nil {
		return nil, err
	}
	_, undef := v.(undefined)
	return undef == e.negate, nil
}

func (e raiseExpr) eval(scope map[string]any) (any, error) {
	v, err := e.msg.eval(scope)
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: the template raised: %s", ErrChatTemplate, toText(v))
}

func toText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case undefined, nil:
		return ""
	case bool:
		if v {
			return "True"
		}
		return "False"
	}
	return fmt.Sprint(v)
}

func renderNodes(nodes []tmplNode, scope map[string]any, b *strings.Builder) error {
	for _, n := range nodes {
		switch n := n.(type) {
		case textNode:
			b.WriteString(n.text)
		case exprNode:
			v, err := n.e.eval(scope)
			if err != nil {
				return err
			}
			switch v.(type) {
			case []any, map[string]any:
				return fmt.Errorf("%w: {{ }} of a %T: only strings, numbers and booleans are written", ErrChatTemplate, v)
			}
			b.WriteString(toText(v))
		case setNode:
			v, err := n.e.eval(scope)
			if err != nil {
				return err
			}
			scope[n.name] = v
		case ifNode:
			for i, c := range n.conds {
				ok := c == nil
				if !ok {
					v, err := c.eval(scope)
					if err != nil {
						return err
					}
					ok = truthy(v)
				}
				if ok {
					if err := renderNodes(n.blocks[i], scope, b); err != nil {
						return err
					}
					break
				}
			}
		case forNode:
			v, err := n.seq.eval(scope)
			if err != nil {
				return err
			}
			items, ok := v.([]any)
			if !ok {
				return fmt.Errorf("%w: for %s over a %T: only lists", ErrChatTemplate, n.name, v)
			}
			saved, hadName := scope[n.name]
			savedLoop, hadLoop := scope["loop"]
			for i, it := range items {
				scope[n.name] = it
				scope["loop"] = map[string]any{"first": i == 0, "last": i == len(items)-1, "index": i + 1, "index0": i, "length": len(items)}
				if err := renderNodes(n.body, scope, b); err != nil {
					return err
				}
			}
			// Jinja scopes a loop's variables to the loop
			delete(scope, n.name)
			delete(scope, "loop")
			if hadName {
				scope[n.name] = saved
			}
			if hadLoop {
				scope["loop"] = savedLoop
			}
		}
	}
	return nil
}

// The expression parser: precedence or < and < not < comparison < + ~ < postfix (. [ ] | is) < primary.

type exprLexer struct {
	toks []string
	i    int
	src  string
	pos  int
}

func parseExpr(src string, pos int) (tmplExpr, error) {
	toks, err := lexExpr(src, pos)
	if err != nil {
		return nil, err
	}
	l := &exprLexer{toks: toks, src: src, pos: pos}
	e, err := l.or()
	if err != nil {
		return nil, err
	}
	if l.i < len(l.toks) {
		return nil, fmt.Errorf("%w: %q at byte %d: unexpected %q", ErrChatTemplate, src, pos, l.toks[l.i])
	}
	return e, nil
}

func lexExpr(src string, pos int) ([]string, error) {
	var toks []string
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
					switch src[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					default:
						b.WriteByte(src[j])
					}
					continue
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, fmt.Errorf("%w: %q at byte %d: unterminated string", ErrChatTemplate, src, pos)
			}
			toks = append(toks, "\x00"+b.String()) // a string literal
			i = j + 1
		case strings.HasPrefix(src[i:], "==") || strings.HasPrefix(src[i:], "!="):
			toks = append(toks, src[i:i+2])
			i += 2
		case strings.ContainsRune("[]().|+~,", rune(c)):
			toks = append(toks, string(c))
			i++
		case c == '_' || unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)):
			j := i
			for j < len(src) && (src[j] == '_' || unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j]))) {
				j++
			}
			toks = append(toks, src[i:j])
			i = j
		case c == ':':
			return nil, fmt.Errorf("%w: %q at byte %d: slices (x[a:b]) are outside the supported subset", ErrChatTemplate, src, pos)
		default:
			return nil, fmt.Errorf("%w: %q at byte %d: %q is outside the supported subset", ErrChatTemplate, src, pos, string(c))
		}
	}
	return toks, nil
}

func (l *exprLexer) peek() string {
	if l.i < len(l.toks) {
		return l.toks[l.i]
	}
	return ""
}

func (l *exprLexer) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %q at byte %d: %s", ErrChatTemplate, l.src, l.pos, fmt.Sprintf(format, args...))
}

// leftAssoc parses next (op next)… for the binary operators ops, left to right.
func (l *exprLexer) leftAssoc(next func() (tmplExpr, error), ops ...string) (tmplExpr, error) {
	x, err := next()
	for err == nil && slices.Contains(ops, l.peek()) {
		op := l.peek()
		l.i++
		var r tmplExpr
		if r, err = next(); err == nil {
			x = binExpr{op, x, r}
		}
	}
	return x, err
}

func (l *exprLexer) or() (tmplExpr, error) { return l.leftAssoc(l.and, "or") }

func (l *exprLexer) and() (tmplExpr, error) { return l.leftAssoc(l.not, "and") }

func (l *exprLexer) not() (tmplExpr, error) {
	if l.peek() == "not" {
		l.i++
		x, err := l.not()
		return notExpr{x}, err
	}
	return l.compare()
}

func (l *exprLexer) compare() (tmplExpr, error) {
	x, err := l.concat()
	if err != nil {
		return nil, err
	}
	op := l.peek()
	if op == "not" && l.i+1 < len(l.toks) && l.toks[l.i+1] == "in" {
		l.i++
		op = "not in"
	}
	switch op {
	case "==", "!=", "in", "not in":
		l.i++
		r, err := l.concat()
		return binExpr{op, x, r}, err
	}
	return x, nil
}

func (l *exprLexer) concat() (tmplExpr, error) { return l.leftAssoc(l.postfix, "+", "~") }

func (l *exprLexer) postfix() (tmplExpr, error) {
	x, err := l.primary()
	for err == nil {
		switch l.peek() {
		case ".":
			l.i++
			name := l.peek()
			if !isIdent(name) {
				return nil, l.errorf("a name must follow '.'")
			}
			l.i++
			x = indexExpr{x, litExpr{name}}
		case "[":
			l.i++
			var k tmplExpr
			if k, err = l.or(); err != nil {
				return nil, err
			}
			if l.peek() != "]" {
				return nil, l.errorf("expected ] (slices are outside the supported subset)")
			}
			l.i++
			x = indexExpr{x, k}
		case "|":
			l.i++
			name := l.peek()
			if !isIdent(name) {
				return nil, l.errorf("a filter name must follow '|'")
			}
			l.i++
			x = filterExpr{x, name}
		case "is":
			l.i++
			negate := l.peek() == "not"
			if negate {
				l.i++
			}
			if l.peek() != "defined" {
				return nil, l.errorf("only the tests `is defined` and `is not defined` are supported, got is %s", l.peek())
			}
			l.i++
			x = definedExpr{x, negate}
		default:
			return x, nil
		}
	}
	return x, err
}

func (l *exprLexer) primary() (tmplExpr, error) {
	t := l.peek()
	if t == "" {
		return nil, l.errorf("an expression ends too early")
	}
	l.i++
	switch {
	case strings.HasPrefix(t, "\x00"):
		return litExpr{t[1:]}, nil
	case t == "[": // a list literal
		var items []tmplExpr
		for l.peek() != "]" {
			x, err := l.or()
			if err != nil {
				return nil, err
			}
			items = append(items, x)
			if l.peek() == "," {
				l.i++
			} else if l.peek() != "]" {
				return nil, l.errorf("expected , or ] in a list")
			}
		}
		l.i++
		return listExpr{items}, nil
	case t == "(":
		x, err := l.or()
		if err != nil {
			return nil, err
		}
		if l.peek() != ")" {
			return nil, l.errorf("expected )")
		}
		l.i++
		return x, nil
	case t == "true" || t == "True":
		return litExpr{true}, nil
	case t == "false" || t == "False":
		return litExpr{false}, nil
	case t == "none" || t == "None":
		return litExpr{nil}, nil
	case t == "raise_exception":
		if l.peek() != "(" {
			return nil, l.errorf("raise_exception must be called")
		}
		l.i++
		msg, err := l.or()
		if err != nil {
			return nil, err
		}
		if l.peek() != ")" {
			return nil, l.errorf("expected ) after raise_exception's message")
		}
		l.i++
		return raiseExpr{msg}, nil
	case unicode.IsDigit(rune(t[0])):
		n, err := strconv.Atoi(t)
		if err != nil {
			return nil, l.errorf("%q is not an integer (other numbers are outside the supported subset)", t)
		}
		return litExpr{n}, nil
	case isIdent(t):
		if l.peek() == "(" {
			return nil, l.errorf("calling %s is outside the supported subset (only raise_exception)", t)
		}
		return nameExpr{t}, nil
	}
	return nil, l.errorf("unexpected %q", t)
}
