#!/usr/bin/env python3
"""The PyTorch reference for BenchmarkMiniLM (pretrained/bench_test.go): the same model and step on the CPU with
the same thread count — all-MiniLM-L6-v2, adapters (r = 8) on q, k, v, o, 3 tasks with per-task heads, batch
32 × 128 — with PEFT's LoRA and with an MTL-LoRA layer written after the paper (shared A, per-task diagonal Λ_t,
n = 3 up-projections mixed by softmax(w_t / τ)). Prints forward and training-step times (median of repeats).
Not part of CI; run where PyTorch is installed (Debian: python3-torch with libopenblas0-pthread):

    /tmp/refenv/bin/python scripts/reference/torch_bench.py "$(go run ./cmd/mtlora fetch-model)" [threads]
"""
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


def median_time(fn, repeats=5):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    model_dir = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ids = torch.randint(1, 30000, (BATCH, SEQ))
    mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    tasks = torch.arange(BATCH) % TASKS
    labels = torch.randint(0, CLASSES, (BATCH,))
    print(f"torch {torch.__version__} (peft {peft.__version__}), {threads} threads, batch {BATCH} × {SEQ}")
    print(f"{'method':10s} {'forward s':>10s} {'train step s':>13s}")
    for method in ("lora", "mtl-lora"):
        model, heads = make(model_dir, method)
        params = [p for p in model.parameters() if p.requires_grad] + [heads]
        opt = torch.optim.AdamW(params, lr=1e-3)
        model.eval()
        with torch.no_grad():
            fwd = median_time(lambda: step_fn(model, heads, ids, mask, tasks, labels))
        model.train()
        train = median_time(lambda: step_fn(model, heads, ids, mask, tasks, labels, opt))
        print(f"{method:10s} {fwd:10.3f} {train:13.3f}   ({sum(p.numel() for p in params)} trainable)")


if __name__ == "__main__":
    main()
