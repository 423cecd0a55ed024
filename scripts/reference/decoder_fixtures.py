#!/usr/bin/env python3
"""Writes the decoder fixtures from transformers, which reads SmolLM2's GGUF itself (gguf_file=; weights
dequantised to float32): token ids of a varied set of texts, logits of prompts (single and a padded batch),
and greedy generations. Run in a venv with torch, transformers 5.23.0 and gguf 0.19.0:

    python scripts/reference/decoder_fixtures.py GGUF OUT_DIR

OUT_DIR/tokens.json: [{"text", "ids"}] — ids without special tokens added (SmolLM2 adds no BOS).
OUT_DIR/logits.json: per prompt the ids, and the logits of a fixed set of vocabulary ids at every position
  (all 49,152 would be 200 KB per position): ids 0–31, every 389th id, and the top 8 of each position.
OUT_DIR/generate.json: per prompt 20 greedy tokens (no sampling, no stop).
Only outputs are written, never weights.
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

TEXTS = [
    "Hello world", "naïve café, résumé — Ærøskøbing", "日本語のテキストと中文", "emoji 👍🏽 and 🧑‍💻 done",
    "def f(x):\n\treturn x**2  # square\n", "    four spaces, then\n\n\ntwo newlines", "tabs\tand\r\nCRLF",
    "don't, I'll, we've, she'd, THEY'RE", "1234567890 + 3.14159 = 1e10", "<|im_start|>user\nhi<|im_end|>",
    "no break\u00a0space and\u3000ideographic", "", " ", "a" * 300, "ünïcödé ÜBER", "x<|endoftext|>y",
    "<|im_start|><|im_start|>", "'''quoted'''", "line\u2028separator", "\u0000nul and \u200bzwsp",
]

PROMPTS = [
    "The capital of France is", "Question: Is the sky blue?\nAnswer:", "def fibonacci(n):",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", "Once upon a time",
    "Translate to French: cheese", "1, 2, 3, 4,", "The opposite of hot is", "Paris, London and", "Water boils at",
]


def main():
    gguf, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    d, name = os.path.dirname(gguf), os.path.basename(gguf)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    with open(os.path.join(out, "tokens.json"), "w", encoding="utf-8") as f:
        json.dump([{"text": t, "ids": tok(t, add_special_tokens=False)["input_ids"]} for t in TEXTS], f, ensure_ascii=False, indent=0)
    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32)
    model.eval()
    vocab = model.config.vocab_size
    fixed = sorted(set(list(range(32)) + list(range(0, vocab, 389))))
    records = []
    with torch.no_grad():
        for p in PROMPTS:
            ids = tok(p, add_special_tokens=False)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0]
            records.append(positions(p, ids, logits, fixed))
        # a padded batch (right padding, attention mask): the logits of the real positions
        batch = PROMPTS[:4]
        enc = [tok(p, add_special_tokens=False)["input_ids"] for p in batch]
        n = max(len(e) for e in enc)
        pad = tok.pad_token_id
        ids = torch.tensor([e + [pad] * (n - len(e)) for e in enc])
        mask = torch.tensor([[1] * len(e) + [0] * (n - len(e)) for e in enc])
        logits = model(input_ids=ids, attention_mask=mask).logits
        padded = [positions(p, e, logits[i, : len(e)], fixed) for i, (p, e) in enumerate(zip(batch, enc))]
        gens = []
        for p in PROMPTS[:6]:
            ids = tok(p, add_special_tokens=False)["input_ids"]
            # an explicit attention mask: without one, generate() masks every token equal to the pad id — here
            # <|im_end|>, which chat prompts contain
            x = torch.tensor([ids])
            g = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=20, do_sample=False, eos_token_id=None, pad_token_id=pad)
            gens.append({"prompt": p, "ids": ids, "generated": g[0, len(ids):].tolist(), "text": tok.decode(g[0, len(ids):])})
    with open(os.path.join(out, "logits.json"), "w", encoding="utf-8") as f:
        json.dump({"fixed_ids": fixed, "prompts": records, "padded_batch": {"pad_id": pad, "padding": "right", "prompts": padded}}, f)
    with open(os.path.join(out, "generate.json"), "w", encoding="utf-8") as f:
        json.dump(gens, f, ensure_ascii=False, indent=0)


def positions(prompt, ids, logits, fixed):
    pos = []
    for row in logits:
        top = torch.topk(row, 8)
        pos.append({"fixed": row[fixed].tolist(), "top_ids": top.indices.tolist(), "top": top.values.tolist()})
    return {"prompt": prompt, "ids": ids, "positions": pos}


if __name__ == "__main__":
    main()
