#!/usr/bin/env python3
"""Checks `mtlora export` against Hugging Face PEFT: loads the original model with the exported PEFT adapter of
a task (PEFT applies it with its own conventions: module names, [r, in]/[out, r] layouts, lora_alpha / r)
and the exported merged checkpoint of the same task, and prints the largest difference of their hidden
states on a few texts. Equal (to float rounding) means the PEFT export is what the toolkit trained.

    /tmp/refenv/bin/pip install peft==0.10.0 accelerate==0.30.1   # beside transformers (encoder_fixtures.py)
    go run ./cmd/mtlora export -run RUN_DIR -out OUT -merged
    /tmp/refenv/bin/python scripts/reference/check_export.py MODEL_DIR OUT TASK
"""
import sys

import peft
import torch
import transformers

TEXTS = ["Subject: WIN a FREE prize now, click here!", "The Congress met in December.", "wonderful", "naïve café 日本語"]


def main():
    model_dir, out, task = sys.argv[1:4]
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        base = transformers.AutoModel.from_pretrained(model_dir).eval()
        plain = base(**enc).last_hidden_state
        adapted = peft.PeftModel.from_pretrained(transformers.AutoModel.from_pretrained(model_dir), f"{out}/peft/{task}").eval()
        via_peft = adapted(**enc).last_hidden_state
        merged = transformers.AutoModel.from_pretrained(f"{out}/merged/{task}").eval()(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).bool()
    diff = (via_peft - merged).abs().masked_select(mask).max().item()
    moved = (via_peft - plain).abs().masked_select(mask).max().item()
    print(f"peft {peft.__version__}: task {task}: max |PEFT-applied − merged| = {diff:.2e}; the adapter moves hidden states by up to {moved:.2e}")
    sys.exit(0 if diff < 1e-4 and moved > 1e-3 else 1)


if __name__ == "__main__":
    main()
