#!/usr/bin/env python3
"""The PyTorch reference for `mtlora bench` (package perf): the same model and step on the CPU with
the same thread count — all-MiniLM-L6-v2, adapters (r = 8) on q, k, v, o, 3 tasks with per-task heads, batch
32 × 128 — with PEFT's LoRA and with an MTL-LoRA layer written after the paper (shared A, per-task diagonal Λ_t,
n = 3 up-projections mixed by softmax(w_t / τ)) — and a float32 matrix product, the measured peak.
It prints the case names of `mtlora bench` (package perf) and, with --json FILE, writes their medians for
`mtlora bench -torch FILE`, which then prints the toolkit/PyTorch ratios. Not part of CI; run where PyTorch
is installed, e.g. a venv with `pip install torch==2.15.0 transformers==5.23.0 peft==0.21.2`:

    python scripts/reference/torch_bench.py "$(go run ./cmd/mtlora fetch-model)" 2 --json /tmp/torch.json

With --gguf (SmolLM2's GGUF, `mtlora fetch-model smollm2-135m`) it adds the decoder cases: SmolLM2 as
transformers reads the GGUF, PEFT LoRA and the MTL-LoRA layer on all seven projections, batch 8 × 128.

With --serve it answers case names on stdin instead, one run each: `mtlora bench -torch-python PYTHON` starts
it that way and interleaves its cases with the toolkit's in the same rounds, the fairer comparison on a
machine whose load changes between runs.
"""
import argparse
import json
import statistics
import sys
import time

import peft
import torch
import transformers

BATCH, SEQ, TASKS, CLASSES, RANK, N, TAU = 32, 128, 3, 4, 8, 3, 0.1


class MTLLoRALinear(torch.nn.Module):
    """y = W0·x + b + s · B̃_t (Λ_t (A x)), B̃_t = Σ_i softmax(w_t/τ)_i B_i; W0 and b frozen."""

    task_ids = None  # [batch] long, set before each forward

    def __init__(self, base: torch.nn.Linear, r=RANK, n=N, tasks=TASKS, alpha=16.0):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        d_in, d_out = base.in_features, base.out_features
        self.A = torch.nn.Parameter(torch.randn(d_in, r) / d_in ** 0.5)
        self.lam = torch.nn.Parameter(torch.ones(tasks, r))
        self.B = torch.nn.Parameter(torch.zeros(n, r, d_out))
        self.w = torch.nn.Parameter(torch.randn(tasks, n) * 0.01)
        self.scale = alpha / r

    def forward(self, x):
        t = MTLLoRALinear.task_ids
        z = (x @ self.A) * self.lam[t][:, None, :]                        # [b, L, r]
        mix = torch.softmax(self.w[t] / TAU, dim=-1)                        # [b, n]
        b_t = torch.einsum("bn,nrd->brd", mix, self.B)                      # [b, r, d_out]: one B̃_t per example
        return self.base(x) + self.scale * torch.bmm(z, b_t)


def attention_linears(model):
    for layer in model.encoder.layer:
        att = layer.attention
        yield att.self, "query"
        yield att.self, "key"
        yield att.self, "value"
        yield att.output, "dense"


def make(model_dir, method):
    model = transformers.AutoModel.from_pretrained(model_dir)
    if method == "lora":
        cfg = peft.LoraConfig(r=RANK, lora_alpha=16, lora_dropout=0.0,
                              target_modules=r".*attention\.(self\.(query|key|value)|output\.dense)")
        model = peft.get_peft_model(model, cfg)
    else:
        for p in model.parameters():
            p.requires_grad_(False)
        for parent, name in attention_linears(model):
            setattr(parent, name, MTLLoRALinear(getattr(parent, name)))
    heads = torch.nn.Parameter(torch.randn(TASKS, model.config.hidden_size, CLASSES) * 0.02)
    return model, heads


def step_fn(model, heads, ids, mask, tasks, labels, opt=None):
    MTLLoRALinear.task_ids = tasks
    h = model(input_ids=ids, attention_mask=mask).last_hidden_state
    pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    logits = torch.einsum("bh,bhc->bc", pooled, heads[tasks])
    if opt is None:
        return logits
    loss = torch.nn.functional.cross_entropy(logits, labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def median_time(fn, repeats):
    fn()  # warm-up (mtlora bench: the untimed first call)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def build_cases(args, ids, mask, tasks, labels):
    """The cases as (name, fn, flops); each fn runs one call in the mode it needs (eval + no_grad for
    forward passes, train for steps), so the cases can be called in any order."""
    cases = []
    for m, k, n in ((2048, 2048, 2048), (BATCH * SEQ, 384, 1536)):
        a, b = torch.randn(m, k), torch.randn(k, n)
        cases.append((f"matmul {m}×{k}×{n}", lambda a=a, b=b: a @ b, 2.0 * m * k * n))
    if args.model_dir == "-":  # no MiniLM: the decoder cases only
        return cases, {}, 0
    base = transformers.AutoModel.from_pretrained(args.model_dir).eval()
    fwd = bert_flops(base.config)

    def base_forward():
        with torch.no_grad():
            return base(input_ids=ids, attention_mask=mask)
    cases.append(("minilm base forward", base_forward, fwd))
    models = {}
    for method in ("lora", "mtl-lora"):
        model, heads = make(args.model_dir, method)
        params = [p for p in model.parameters() if p.requires_grad] + [heads]
        opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
        models[method] = (model, heads)

        def forward(model=model, heads=heads):
            model.eval()
            with torch.no_grad():
                return step_fn(model, heads, ids, mask, tasks, labels)

        def train_step(model=model, heads=heads, opt=opt):
            model.train()
            return step_fn(model, heads, ids, mask, tasks, labels, opt)
        cases.append((f"minilm {method} forward", forward, fwd))
        cases.append((f"minilm {method} train step", train_step, 2 * fwd))
    return cases, models, fwd


DEC_BATCH, DEC_SEQ, DEC_ANSWER, DEC_PROMPT, DEC_NEW = 8, 128, 4, 64, 32
DEC_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def decoder_cases(gguf):
    """The decoder cases of `mtlora bench` (perf/decoder.go): SmolLM2 as transformers reads its GGUF (float32),
    adapters of rank 8 on all seven projections, batch 8 × 128 with the same token ids; the training loss on
    the last 4 tokens of each row, their logits alone computed (logits_to_keep), as the toolkit does."""
    import os
    d, name = os.path.dirname(gguf), os.path.basename(gguf)
    load = lambda: transformers.AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32)
    ids = torch.tensor([[(7 * i + 13 * r) % 30000 + 100 for i in range(DEC_SEQ)] for r in range(DEC_BATCH)])
    mask = torch.ones_like(ids)
    tasks = torch.arange(DEC_BATCH) % TASKS
    targets = ids[:, -DEC_ANSWER:]
    base = load().eval()

    def base_forward():
        with torch.no_grad():
            return base(input_ids=ids, attention_mask=mask).logits
    cases = [("smollm2 base forward", base_forward, 0)]
    models = {}
    for method in ("lora", "mtl-lora"):
        model = load()
        if method == "lora":
            model = peft.get_peft_model(model, peft.LoraConfig(r=RANK, lora_alpha=16, lora_dropout=0.0, target_modules=list(DEC_PROJECTIONS)))
        else:
            for p in model.parameters():
                p.requires_grad_(False)
            for layer in model.model.layers:
                for parent in (layer.self_attn, layer.mlp):
                    for proj in DEC_PROJECTIONS:
                        if hasattr(parent, proj):
                            setattr(parent, proj, MTLLoRALinear(getattr(parent, proj)))
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01)
        models[method] = model

        def train_step(model=model, opt=opt):
            model.train()
            MTLLoRALinear.task_ids = tasks
            logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=DEC_ANSWER + 1).logits[:, :-1]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        cases.append((f"smollm2 {method} train step", train_step, 0))
    mtl = models["mtl-lora"]
    prompts = ids[:, :DEC_PROMPT]

    def generate():
        mtl.eval()
        MTLLoRALinear.task_ids = tasks
        with torch.no_grad():
            return mtl.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=DEC_NEW, min_new_tokens=DEC_NEW,
                                do_sample=False, use_cache=True, eos_token_id=None, pad_token_id=0)
    cases.append(("smollm2 mtl-lora generate", generate, 0))
    return cases


def serve(cases, threads):
    """--serve: `mtlora bench -torch-python` interleaves these cases with its own. It reads one case name per
    line on stdin, runs that case once and answers with its seconds; the first line out is
    "ready TORCH_VERSION THREADS"."""
    by_name = {name: fn for name, fn, _ in cases}
    print(f"ready {torch.__version__} {threads}", flush=True)
    for line in sys.stdin:
        name = line.strip()
        fn = by_name.get(name)
        if fn is None:
            print(f"error: unknown case {name!r} (known: {', '.join(by_name)})", flush=True)
            continue
        t0 = time.perf_counter()
        fn()
        print(f"{time.perf_counter() - t0:.6f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", help="all-MiniLM-L6-v2's directory, or - for no MiniLM cases")
    ap.add_argument("threads", nargs="?", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", help="write the medians here for `mtlora bench -torch FILE`")
    ap.add_argument("--serve", action="store_true", help="answer case names on stdin (for mtlora bench -torch-python)")
    ap.add_argument("--gguf", help="SmolLM2's GGUF: adds the decoder cases")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ids = torch.randint(1, 30000, (BATCH, SEQ))
    mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    tasks = torch.arange(BATCH) % TASKS
    labels = torch.randint(0, CLASSES, (BATCH,))
    cases, models, fwd = build_cases(args, ids, mask, tasks, labels)
    if args.gguf:
        cases += decoder_cases(args.gguf)
    if args.serve:
        serve(cases, args.threads)
        return
    print(f"torch {torch.__version__} (peft {peft.__version__}, transformers {transformers.__version__}), "
          f"{args.threads} threads, batch {BATCH} × {SEQ}, {args.reps} reps per case")
    seconds = {}
    for name, fn, flops in cases:
        s = median_time(fn, args.reps)
        seconds[name] = s
        gf = f"{flops / s / 1e9:8.1f}" if flops else "       –"
        print(f"{name:36s} {s:9.4f} s  {gf} GFLOP/s", flush=True)
    model, _ = models["lora"]
    merged = model.merge_and_unload().eval()

    def merged_forward():
        with torch.no_grad():
            return merged(input_ids=ids, attention_mask=mask)
    s = median_time(merged_forward, args.reps)
    seconds["minilm lora merged forward"] = s
    print(f"{'minilm lora merged forward':36s} {s:9.4f} s  {fwd / s / 1e9:8.1f} GFLOP/s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"torch": torch.__version__, "threads": args.threads, "seconds": seconds}, f, indent=1)
        print(f"wrote {args.json}")


def bert_flops(cfg):
    """Forward FLOPs as perf.BERTFLOPs counts them: linear products and the two attention products."""
    tokens, h, f = BATCH * SEQ, cfg.hidden_size, cfg.intermediate_size
    return cfg.num_hidden_layers * (2 * tokens * (4 * h * h + 2 * h * f) + 4 * BATCH * SEQ * SEQ * h)


if __name__ == "__main__":
    main()
