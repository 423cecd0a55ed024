#!/usr/bin/env python3
"""Checks an exported decoder run against PEFT and transformers (run in a venv with torch, transformers,
peft and gguf):

    MTLORA_PEFT_CHECK_DIR=/tmp/peftcheck go test ./experiment -run TestDecoderRun
    python scripts/reference/peft_check.py /tmp/peftcheck GGUF

DIR holds the run's export (peft/<task>/, merged/<task>/) and ours.json: the toolkit's logits of the adapted
model for one task on a few prompts. It prints the largest differences, relative to each position's largest
logit, of
  1. PEFT applying peft/<task> to the Hugging Face model that transformers reads from the same GGUF, and
  2. transformers loading merged/<task> (our config.json, model.safetensors, tokenizer.json),
from ours — and whether the merged directory's tokenizer gives the GGUF tokenizer's ids. Exit status 1 if a
difference exceeds 1e-4 or ids differ.
"""
import json
import os
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    d, gguf = sys.argv[1], sys.argv[2]
    ours = json.load(open(os.path.join(d, "ours.json")))
    task = ours["task"]
    torch.set_num_threads(2)
    base = AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf), dtype=torch.float32).eval()
    peft = PeftModel.from_pretrained(base, os.path.join(d, "peft", task)).eval()
    merged_dir = os.path.join(d, "merged", task)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(merged_dir)
    gtok = AutoTokenizer.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf))
    worst = {"peft": 0.0, "merged": 0.0}
    ok = True
    for p in ours["prompts"]:
        ids = p["ids"]
        if tok(p["prompt"], add_special_tokens=False)["input_ids"] != ids or gtok(p["prompt"], add_special_tokens=False)["input_ids"] != ids:
            print("token ids differ for", repr(p["prompt"]))
            ok = False
        want = torch.tensor(p["last"])
        scale = max(want.abs().max().item(), 1.0)
        with torch.no_grad():
            for name, m in (("peft", peft), ("merged", merged)):
                got = m(torch.tensor([ids])).logits[0, -1]
                worst[name] = max(worst[name], ((got - want).abs().max() / scale).item())
    for name, w in worst.items():
        print(f"{name}: largest difference from ours {w:.2e} of the position's largest logit")
        ok = ok and w <= 1e-4
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
