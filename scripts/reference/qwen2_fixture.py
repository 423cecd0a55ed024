#!/usr/bin/env python3
"""Writes a tiny Qwen2 checkpoint with random weights (seeded) as transformers saves it — config.json,
model.safetensors, a byte-level BPE tokenizer.json of 256 byte tokens and one special token — and the
logits transformers computes on a few prompts, for pretrained's Hugging Face decoder loader (q/k/v biases,
grouped-query attention, tied embeddings). Run in a venv with torch and transformers 5.23:

    python scripts/reference/qwen2_fixture.py pretrained/testdata/decoders/qwen2-tiny
"""
import json
import os
import sys

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM


def bytes_to_unicode():
    """GPT-2's byte-to-character table (printable bytes stand for themselves, the rest shift to U+0100 on)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))

PROMPTS = ["Hello world", "naïve café 12", "a  b\n\nc", "<|endoftext|>x"]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    chars = [bytes_to_unicode()[b] for b in range(256)]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab["<|endoftext|>"] = 256
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.save_pretrained(out)
    torch.manual_seed(7)
    cfg = Qwen2Config(vocab_size=257, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=64, rope_theta=10000.0, rms_norm_eps=1e-6,
                      tie_word_embeddings=True, eos_token_id=256, bos_token_id=256, use_sliding_window=False)
    model = Qwen2ForCausalLM(cfg).eval()
    with torch.no_grad():  # the default init leaves the biases 0: give them values so the test sees them
        for layer in model.model.layers:
            for p in (layer.self_attn.q_proj.bias, layer.self_attn.k_proj.bias, layer.self_attn.v_proj.bias):
                p.normal_(0, 0.5)
    model.save_pretrained(out, safe_serialization=True)
    records = []
    with torch.no_grad():
        for p in PROMPTS:
            ids = fast(p, add_special_tokens=False)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0]
            records.append({"prompt": p, "ids": ids, "logits": logits.tolist()})
    with open(os.path.join(out, "expected_logits.json"), "w", encoding="utf-8") as f:
        json.dump(records, f)


if __name__ == "__main__":
    main()
