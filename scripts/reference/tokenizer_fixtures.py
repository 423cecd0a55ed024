#!/usr/bin/env python3
"""Writes the reference token ids of all-MiniLM-L6-v2 for the Go tokenizer tests.

Reference implementation: Hugging Face `tokenizers` (the Rust library behind transformers' fast
BertTokenizerFast), reading the checkpoint's own tokenizer.json. Re-run after changing INPUTS:

    pip install tokenizers==0.23.3
    go run ./cmd/mtlora fetch-model            # prints the checkpoint directory
    python3 scripts/reference/tokenizer_fixtures.py "$(go run ./cmd/mtlora fetch-model)" \
        > pretrained/testdata/minilm_tokenizer.json

Each case records ids and type ids without truncation or padding, with [CLS]/[SEP] added, and again
truncated at the model's limit of 512 tokens (longest-first for pairs).
"""
import json
import sys

import tokenizers

LONG = " ".join(f"word{i} and more text" for i in range(300))
INPUTS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "",
    "   leading and trailing spaces   ",
    "UPPER lower MiXeD CaSe",
    "Café naïve résumé coöperate Ångström",
    "Straße, Ærøskøbing, façade",
    "日本語のテキストと漢字",
    "中文字符测试，标点符号。",
    "한국어 문장입니다",
    "Emoji 😀🎉 and symbols ©®™ ∑∫",
    "tabs\tand\nnewlines\r\nhere",
    "unbelievably unaffordable antidisestablishmentarianism",
    "e-mail: someone@example.com, url: https://example.org/a?b=c",
    "numbers 3.14159 1,000,000 42nd",
    "[CLS] literal special tokens [SEP] [MASK] in text",
    "control\u0000chars\u200bzero width",
    "Ελληνικά και русский текст",
    "العربية والعبرية עברית",
    LONG,
    ["What is the capital of France?", "Paris is the capital of France."],
    ["A pair with an empty second part", ""],
    [LONG, "short second sentence"],
    ["短い", LONG],
    [LONG, LONG + " and an odd tail"],
]


def main():
    tok = tokenizers.Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
    tok.no_padding()
    cases = []
    for inp in INPUTS:
        pair = isinstance(inp, list)
        case = {"text": inp[0] if pair else inp}
        if pair:
            case["pair"] = inp[1]
        for key, limit in (("full", None), ("max512", 512)):
            if limit is None:
                tok.no_truncation()
            else:
                tok.enable_truncation(limit, strategy="longest_first")
            enc = tok.encode(inp[0], inp[1]) if pair else tok.encode(inp)
            case[key] = {"ids": enc.ids, "type_ids": enc.type_ids}
        cases.append(case)
    json.dump({"reference": f"tokenizers {tokenizers.__version__}", "model": "all-MiniLM-L6-v2",
               "cases": cases}, sys.stdout, ensure_ascii=False, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
