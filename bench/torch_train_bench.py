#!/usr/bin/python3
"""torch_train_bench.py — the PyTorch side of the training-step benchmark.

A minimal Llama in plain torch (no transformers, no peft) with the shapes of
sa_model_config_preset, random init, synthetic tokens, timed
forward + backward + AdamW steps after one warm-up step. It exists so that
bench/bench_train (selfalign) and PyTorch can be measured side by side on
the same machine, thread count and shapes.

Usage (Debian's python3-torch lives under /usr/bin/python3):
    /usr/bin/python3 bench/torch_train_bench.py --shape m-tiny --batch 16 \
        --seq-len 256 --steps 3 --threads 2 [--lora 16] [--json]

--lora R trains rank-R adapters on q, k, v, o, gate, up and down with every
base weight frozen (the adapter layer is written here). Prints a table line,
or with --json one JSON object {tokens_per_s, step_s, peak_rss_mb, ...};
peak RSS is the process maximum from getrusage (it includes the model).
"""
import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# the presets of include/sa/model.h (sa_model_config_preset)
SHAPES = {
    "m-tiny": dict(dim=288, n_layers=6, n_heads=6, n_kv_heads=6, ffn=768, vocab=32000, tied=False),
    "m-small": dict(dim=576, n_layers=30, n_heads=9, n_kv_heads=3, ffn=1536, vocab=49152, tied=True),
}
ROPE_THETA = 10000.0
NORM_EPS = 1e-5


class LoRALinear(nn.Module):
    """y = x W^T + (alpha / r) (x A^T) B^T with W frozen; B starts at zero
    as in the LoRA paper, so the first step sees the base model."""

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        self.a = nn.Parameter(torch.randn(r, base.in_features) / math.sqrt(base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + F.linear(F.linear(x, self.a), self.b) * self.scale


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS) * self.weight


def rope_tables(hd, T):
    inv = 1.0 / (ROPE_THETA ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = torch.outer(torch.arange(T, dtype=torch.float32), inv)  # [T, hd/2]
    return torch.cos(ang), torch.sin(ang)


def apply_rope(x, cos, sin):
    # x [B, H, T, hd]; Hugging Face rotate_half pairing (i, i + hd/2)
    x1, x2 = x.chunk(2, dim=-1)
    c = torch.cat([cos, cos], dim=-1)
    s = torch.cat([sin, sin], dim=-1)
    return x * c + torch.cat([-x2, x1], dim=-1) * s


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h, kvh = c["dim"], c["n_heads"], c["n_kv_heads"]
        self.h, self.kvh, self.hd = h, kvh, d // h
        self.attn_norm, self.ffn_norm = RMSNorm(d), RMSNorm(d)
        self.wq = nn.Linear(d, h * self.hd, bias=False)
        self.wk = nn.Linear(d, kvh * self.hd, bias=False)
        self.wv = nn.Linear(d, kvh * self.hd, bias=False)
        self.wo = nn.Linear(h * self.hd, d, bias=False)
        self.w_gate = nn.Linear(d, c["ffn"], bias=False)
        self.w_up = nn.Linear(d, c["ffn"], bias=False)
        self.w_down = nn.Linear(c["ffn"], d, bias=False)

    def forward(self, x, cos, sin, causal):
        B, T, _ = x.shape
        xn = self.attn_norm(x)
        q = self.wq(xn).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.wk(xn).view(B, T, self.kvh, self.hd).transpose(1, 2)
        v = self.wv(xn).view(B, T, self.kvh, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.kvh != self.h:
            k = k.repeat_interleave(self.h // self.kvh, dim=1)
            v = v.repeat_interleave(self.h // self.kvh, dim=1)
        # torch 1.13 has no scaled_dot_product_attention: the plain formula
        s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.hd))
        s = s.masked_fill(causal, float("-inf"))
        o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, self.h * self.hd)
        x = x + self.wo(o)
        xn = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(xn)) * self.w_up(xn))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.tok = nn.Embedding(c["vocab"], c["dim"])
        self.layers = nn.ModuleList(Block(c) for _ in range(c["n_layers"]))
        self.norm = RMSNorm(c["dim"])
        self.out = nn.Linear(c["dim"], c["vocab"], bias=False)
        if c["tied"]:
            self.out.weight = self.tok.weight

    def forward(self, tokens, targets):
        B, T = tokens.shape
        cos, sin = rope_tables(self.c["dim"] // self.c["n_heads"], T)
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        x = self.tok(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin, causal)
        logits = self.out(self.norm(x))
        return F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))


def add_lora(model, r, alpha):
    for p in model.parameters():
        p.requires_grad_(False)
    for layer in model.layers:
        for name in ("wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down"):
            setattr(layer, name, LoRALinear(getattr(layer, name), r, alpha))


def main():
    ap = argparse.ArgumentParser(description="PyTorch training-step benchmark (minimal Llama)")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="m-tiny")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lora", type=int, default=0, help="LoRA rank on q,k,v,o,gate,up,down (0 = full)")
    ap.add_argument("--lora-alpha", type=float, default=None, help="default: 2 * rank")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.steps < 1 or a.batch < 1 or a.seq_len < 1 or a.threads < 1:
        sys.exit("torch_train_bench: --steps, --batch, --seq-len and --threads must be >= 1")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    c = SHAPES[a.shape]
    model = Llama(c)
    with torch.no_grad():  # small random init, like sa_model_init_random
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.02)
    if a.lora:
        add_lora(model, a.lora, a.lora_alpha if a.lora_alpha is not None else 2.0 * a.lora)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.1)
    g = torch.Generator().manual_seed(a.seed)
    tokens = torch.randint(0, c["vocab"], (a.batch, a.seq_len), generator=g)
    targets = torch.randint(0, c["vocab"], (a.batch, a.seq_len), generator=g)

    step_times, losses = [], []
    for step in range(a.steps + 1):  # step 0 is the warm-up
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(tokens, targets)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        losses.append(loss.item())
        if step > 0:
            step_times.append(dt)

    step_s = sum(step_times) / len(step_times)
    rec = {
        "framework": f"torch {torch.__version__}",
        "shape": a.shape,
        "batch": a.batch,
        "seq_len": a.seq_len,
        "threads": a.threads,
        "lora": a.lora,
        "steps": a.steps,
        "trainable_params": sum(p.numel() for p in params),
        "tokens_per_s": a.batch * a.seq_len / step_s,
        "step_s": step_s,
        "step_s_min": min(step_times),
        "step_s_max": max(step_times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }
    if a.json:
        print(json.dumps(rec))
    else:
        print(f"{a.shape:8s} {a.batch}x{a.seq_len} lora={a.lora} threads={a.threads}: "
              f"{rec['tokens_per_s']:.0f} tok/s, {step_s:.3f} s/step "
              f"(min {rec['step_s_min']:.3f}, max {rec['step_s_max']:.3f}), peak RSS {rec['peak_rss_mb']:.0f} MiB")


if __name__ == "__main__":
    main()
