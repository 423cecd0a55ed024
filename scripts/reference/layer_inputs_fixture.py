"""Inputs of all-MiniLM-L6-v2's linear layers by transformers, for experiment's LayerInputs test: for a few
texts, the input of each block's attention query (= key = value) and attention output projection, averaged over
the text's tokens, from forward pre-hooks on transformers' BertModel (float32, CPU). Writes
experiment/testdata/layer_inputs.json.

    PYTHON scripts/reference/layer_inputs_fixture.py MODEL_DIR experiment/testdata/layer_inputs.json
"""
import json
import sys

import torch
import transformers

TEXTS = ["The cat sat on the mat.", "Is it common to see frost during some college commencements?",
         "Which phrase best fits the <MASK> span? Context: A: We'll be back in <MASK>. B: fine"]
SEQ_LEN = 32

model_dir, out = sys.argv[1], sys.argv[2]
tok = transformers.AutoTokenizer.from_pretrained(model_dir)
model = transformers.AutoModel.from_pretrained(model_dir).eval()
captured = {}


def hook(name):
    def f(module, args):
        captured[name] = args[0].detach()
    return f


for i, layer in enumerate(model.encoder.layer):
    layer.attention.self.query.register_forward_pre_hook(hook(f"layer_{i}/attention/query"))
    layer.attention.output.dense.register_forward_pre_hook(hook(f"layer_{i}/attention/output"))
cases = []
for text in TEXTS:
    enc = tok(text, truncation=True, max_length=SEQ_LEN, return_tensors="pt")
    with torch.no_grad():
        model(**enc)
    cases.append({"text": text, "tokens": int(enc["input_ids"].shape[1]),
                  "mean_inputs": {k: v[0].mean(0).tolist() for k, v in captured.items()}})
with open(out, "w") as f:
    json.dump({"transformers": transformers.__version__, "seq_len": SEQ_LEN, "cases": cases}, f)
    f.write("\n")
