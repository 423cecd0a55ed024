#!/usr/bin/env python3
"""Writes small checkpoints that Hugging Face transformers itself creates and saves, in configurations other
than all-MiniLM-L6-v2's, with transformers' outputs on them, for the Go loader and encoder tests
(pretrained/checkpoints_test.go). The weights are transformers' own random initialisation (seeded), not
third-party weights. Re-run after changing CONFIGS or INPUTS:

    apt-get install python3-torch                      # Debian's CPU build (1.13 on bookworm)
    python3 -m venv --system-site-packages /tmp/refenv
    /tmp/refenv/bin/pip install transformers==4.44.2 "numpy<2"
    /tmp/refenv/bin/python scripts/reference/checkpoint_fixtures.py pretrained/testdata/checkpoints

For each configuration OUT/NAME/ receives what save_pretrained writes (config.json, model.safetensors, the
tokenizer's tokenizer.json, vocab.txt, tokenizer_config.json, special_tokens_map.json), and reference.json
(per input: text, pair, ids, type ids) with reference.safetensors (per input i: case{i}.hidden, the last
hidden state [tokens, hidden] of the model run on those ids alone, float32).
"""
import json
import os
import sys

import torch
import transformers
from safetensors.numpy import save_file

INPUTS = [
    "the quick brown fox jumps over the lazy dog",
    "Hello, World! Naïve café.",
    "",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z " * 3,
    ["is this the question?", "yes, this is the answer."],
    ["short", "a longer second text with more words in it"],
]

CONFIGS = {
    # BERT-base's attention shapes (head dimension 64, feed-forward 4× the width) at a width of 128, CLS pooling.
    "bert-head64": ("bert", dict(hidden_size=128, num_attention_heads=2, intermediate_size=512, num_hidden_layers=1,
                                 max_position_embeddings=64, type_vocab_size=2, layer_norm_eps=1e-12, hidden_act="gelu")),
    # Another vocabulary and position count, three token types, gelu_new, ε = 1e-5, mean pooling (sentence-transformers).
    "bert-types3-gelu-new": ("bert", dict(hidden_size=48, num_attention_heads=4, intermediate_size=80, num_hidden_layers=3,
                                          max_position_embeddings=40, type_vocab_size=3, layer_norm_eps=1e-5,
                                          hidden_act="gelu_new")),
    # DistilBERT: its own names (dim, n_heads, hidden_dim), no token types, no pooler.
    "distilbert": ("distilbert", dict(dim=64, n_heads=4, hidden_dim=128, n_layers=2, max_position_embeddings=48,
                                      activation="gelu")),
}

WORDS = ("the quick brown fox jumps over lazy dog hello world is this question yes answer short longer second "
         "text with more words in it a").split()


def vocab(path, extra_size):
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", ".", "!", "?", "'"] + letters
    tokens += ["##" + c for c in letters] + sorted(set(WORDS) - set(letters))
    tokens += [f"[unused{i}]" for i in range(extra_size)]  # vocabularies of different sizes
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")
    return len(tokens)


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    for k, (name, (kind, cfg)) in enumerate(CONFIGS.items()):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        size = vocab(os.path.join(d, "vocab.txt"), 17 * (k + 1))
        if kind == "bert":
            tok = transformers.BertTokenizerFast(os.path.join(d, "vocab.txt"), do_lower_case=True)
            config = transformers.BertConfig(vocab_size=size, initializer_range=0.2, **cfg)
            model = transformers.BertModel(config)
        else:
            tok = transformers.DistilBertTokenizerFast(os.path.join(d, "vocab.txt"), do_lower_case=True)
            config = transformers.DistilBertConfig(vocab_size=size, initializer_range=0.2, **cfg)
            model = transformers.DistilBertModel(config)
        # Untrained layer norms are the identity: give them values so a misplaced one shows.
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if "LayerNorm" in pname or "layer_norm" in pname:
                    p.copy_(torch.randn_like(p) * 0.3 + (1.0 if pname.endswith("weight") else 0.0))
        model.eval()
        model.save_pretrained(d, safe_serialization=True)
        tok.save_pretrained(d)
        if name == "bert-types3-gelu-new":
            os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
            with open(os.path.join(d, "1_Pooling", "config.json"), "w") as f:
                json.dump({"word_embedding_dimension": cfg["hidden_size"], "pooling_mode_mean_tokens": True}, f)
        cases, tensors = [], {}
        for i, inp in enumerate(INPUTS):
            pair = isinstance(inp, list)
            args = ([inp[0]], [inp[1]]) if pair else ([inp],)
            enc = tok(*args, truncation="longest_first", max_length=cfg.get("max_position_embeddings"), return_tensors="pt")
            feed = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
            if kind == "bert":
                types = enc["token_type_ids"]
                if name == "bert-types3-gelu-new" and pair:
                    types = types * 2  # exercise the third token type: the Go side feeds the same ids
                feed["token_type_ids"] = types
            with torch.no_grad():
                hidden = model(**feed).last_hidden_state[0].numpy().astype("float32")
            case = {"text": inp[0] if pair else inp, "ids": enc["input_ids"][0].tolist(),
                    "type_ids": feed["token_type_ids"][0].tolist() if kind == "bert" else [0] * enc["input_ids"].shape[1]}
            if pair:
                case["pair"] = inp[1]
            cases.append(case)
            tensors[f"case{i}.hidden"] = hidden
        save_file(tensors, os.path.join(d, "reference.safetensors"))
        with open(os.path.join(d, "reference.json"), "w", encoding="utf-8") as f:
            json.dump({"reference": f"transformers {transformers.__version__}, torch {torch.__version__}",
                       "model_type": kind, "cases": cases}, f, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
