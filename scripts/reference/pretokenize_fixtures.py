"""How Hugging Face tokenizers (the Rust library transformers uses) splits text by LLaMA 3's and Qwen2's
pre-tokenizer patterns (a Split with behavior "isolated", as their tokenizer.json files have it), for
pretrained's hand-written splitters. The texts: the 20 of testdata/smollm2/tokens.json and more with digits,
upper-case contractions, tabs, CRLF, combining marks and punctuation runs. Writes pretokenize/cases.json.

    PYTHON scripts/reference/pretokenize_fixtures.py pretrained/testdata/smollm2/tokens.json pretrained/testdata/pretokenize/cases.json
"""
import json
import sys

import tokenizers
from tokenizers import Regex, pre_tokenizers

PATTERNS = {
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}

EXTRA = [
    "I'M SURE HE'S RIGHT, YOU'LL SEE, WE'D GO, THEY'RE HERE, I'VE, ISN'T",
    "Prices: 1234567 and 12.5% off, 3x faster; 2024-12-01T10:00",
    "tab\tseparated\t\tvalues\r\nnext line\r\n\r\n  indented\n\n\nend",
    "e\u0301te\u0301 cafe\u0301 — Zürich naïve façade",
    "!!!???...,,, ;;; (x) [y] {z} <a href='b'>c</a>",
    "   leading spaces and trailing   ",
    "\n\nnewlines first",
    "a\u00a0b\u3000c\u2003d",
    "x = f(1,2)\n    return x**2  # comment\n",
    "٣٤٥ Ⅻ ½ ¾ 𝟙𝟚",
    "'s 't 're 'tis o'clock rock'n'roll",
    "α β γ Ωmega Привет мир",
]


def main():
    src, out = sys.argv[1], sys.argv[2]
    texts = [c["text"] for c in json.load(open(src))] + EXTRA
    cases = []
    for name, pattern in PATTERNS.items():
        split = pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False)
        for t in texts:
            cases.append({"pattern": name, "text": t, "pieces": [p for p, _ in split.pre_tokenize_str(t)]})
    json.dump({"tokenizers": tokenizers.__version__, "patterns": PATTERNS, "cases": cases}, open(out, "w"), indent=1, ensure_ascii=False)
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
