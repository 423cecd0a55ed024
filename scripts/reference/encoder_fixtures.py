#!/usr/bin/env python3
"""Writes reference token ids, hidden states and pooled embeddings of all-MiniLM-L6-v2 for the Go encoder tests.

Reference implementation: Hugging Face transformers (BertModel, BertTokenizerFast) and sentence-transformers
(the checkpoint's own Transformer → Pooling → Normalize pipeline), on the CPU in float32. Same inputs as
tokenizer_fixtures.py. Re-run after changing INPUTS:

    apt-get install python3-torch                      # Debian's CPU build (1.13 on bookworm)
    python3 -m venv --system-site-packages /tmp/refenv
    /tmp/refenv/bin/pip install transformers==4.44.2 sentence-transformers==3.0.1 "numpy<2"
    /tmp/refenv/bin/python scripts/reference/encoder_fixtures.py "$(go run ./cmd/mtlora fetch-model)" \
        pretrained/testdata/minilm_encoder

It writes PREFIX.json (per case: text, pair, ids, type_ids, rows) and PREFIX.safetensors with, per case i:
    case{i}.hidden     [rows, 384]  last hidden state of the first rows tokens (rows = min(tokens, 64),
                                    to keep the fixture small; the pooled vectors cover every token)
    case{i}.last       [384]        last hidden state of the final token
    case{i}.cls        [384]        hidden state of [CLS]
    case{i}.mean       [384]        mean over the tokens (the model's pooling)
    case{i}.embedding  [384]        sentence-transformers' output (mean pooling, L2-normalised); single texts only
Inputs are truncated at the model's 512-token limit (longest-first for pairs).
"""
import json
import os
import sys

import numpy as np
import sentence_transformers
import torch
import transformers
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_fixtures import INPUTS  # noqa: E402

MAX_LEN = 512
ROWS = 64


def main():
    model_dir, prefix = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    bert = transformers.AutoModel.from_pretrained(model_dir).eval()
    st = sentence_transformers.SentenceTransformer(model_dir, device="cpu")
    st.max_seq_length = MAX_LEN
    cases, tensors = [], {}
    for i, inp in enumerate(INPUTS):
        pair = isinstance(inp, list)
        # Batch form: a single call tok(a, "") would treat the empty second text as no pair at all.
        args = ([inp[0]], [inp[1]]) if pair else ([inp],)
        enc = tok(*args, truncation="longest_first", max_length=MAX_LEN, return_tensors="pt")
        with torch.no_grad():
            hidden = bert(**enc).last_hidden_state[0].numpy().astype(np.float32)
        ids = enc["input_ids"][0].tolist()
        if not pair:  # sentence-transformers embeds single texts; its pair input is for cross-encoders
            tensors[f"case{i}.embedding"] = st.encode([inp], convert_to_numpy=True, batch_size=1)[0].astype(np.float32)
            # It must have seen the same tokens, else its embedding is not comparable.
            assert st.tokenize([inp])["input_ids"][0].tolist() == ids, f"case {i}: sentence-transformers tokenized differently"
        rows = min(len(ids), ROWS)
        case = {"text": inp[0] if pair else inp, "ids": ids, "type_ids": enc["token_type_ids"][0].tolist(), "rows": rows}
        if pair:
            case["pair"] = inp[1]
        cases.append(case)
        tensors[f"case{i}.hidden"] = np.ascontiguousarray(hidden[:rows])
        tensors[f"case{i}.last"] = hidden[-1].copy()
        tensors[f"case{i}.cls"] = hidden[0].copy()
        tensors[f"case{i}.mean"] = hidden.mean(axis=0).astype(np.float32)
    save_file(tensors, prefix + ".safetensors")
    with open(prefix + ".json", "w", encoding="utf-8") as f:
        json.dump({"reference": f"transformers {transformers.__version__}, sentence-transformers "
                                f"{sentence_transformers.__version__}, torch {torch.__version__}",
                   "model": "all-MiniLM-L6-v2", "max_len": MAX_LEN, "cases": cases}, f, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
