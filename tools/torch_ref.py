#!/usr/bin/python3
"""torch_ref.py — a PyTorch twin of selfalign's Llama forward pass.

Reads Hugging Face model directories written by build/tools/mkmodel
(config.json + model.safetensors, parsed here without the safetensors
package), runs an independent PyTorch implementation of the decoder
(RMSNorm, rotate-half RoPE with linear / Llama 3 scaling as in transformers,
GQA by repeating kv heads, SwiGLU, optional q/k/v bias, tied embeddings) and
writes the logits of a fixed token sequence to a JSON file that
tests/test_torch_ref.c compares against.

Needs Debian's python3-torch; the build and CI never run it.

    make build/tools/mkmodel
    tools/torch_ref.py --mkmodel build/tools/mkmodel --out tests/data/torch_ref.json
"""
import argparse
import json
import math
import os
import struct
import subprocess
import tempfile

import torch

# name, mkmodel arguments; every model is small so the reference file stays small
CONFIGS = [
    ("mha", ["--arch", "llama", "--dim", "64", "--hidden", "96", "--layers", "2", "--heads", "4",
             "--kv-heads", "4", "--vocab", "80", "--untied", "--seed", "11"]),
    ("gqa", ["--arch", "llama", "--dim", "64", "--hidden", "112", "--layers", "3", "--heads", "8",
             "--kv-heads", "2", "--vocab", "80", "--untied", "--seed", "12"]),
    ("qkv_bias", ["--arch", "qwen2", "--dim", "48", "--hidden", "80", "--layers", "2", "--heads", "6",
                  "--kv-heads", "2", "--vocab", "80", "--bias", "--untied", "--seed", "13"]),
    ("tied", ["--arch", "llama", "--dim", "64", "--hidden", "96", "--layers", "2", "--heads", "4",
              "--kv-heads", "1", "--vocab", "80", "--tied", "--seed", "14"]),
    ("llama3_rope", ["--arch", "llama", "--dim", "64", "--hidden", "96", "--layers", "2", "--heads", "4",
                     "--kv-heads", "2", "--vocab", "80", "--untied", "--rope-theta", "500000",
                     "--rope-scaling", "llama3", "--rope-factor", "8", "--seed", "15"]),
    ("linear_rope", ["--arch", "mistral", "--dim", "64", "--hidden", "96", "--layers", "2", "--heads", "4",
                     "--kv-heads", "2", "--vocab", "80", "--untied", "--rope-scaling", "linear",
                     "--rope-factor", "4", "--seed", "16"]),
]
STD = "0.08"      # larger than the default so the logits carry signal
TOKENS = [1, 17, 42, 5, 77, 23, 23, 9, 60, 31, 2, 44, 13, 70, 8, 55, 3, 29, 64, 11,
          36, 36, 36, 79, 0, 18, 50, 7, 26, 41, 12, 58, 65, 4, 33, 47, 21, 72, 15, 39]

DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt, size = DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(raw[base + b:base + e]), dtype=dt).to(torch.float32)
        out[name] = t.reshape(info["shape"])
    return out


def inv_freq(cfg, hd):
    theta = cfg.get("rope_theta", 10000.0)
    f = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    rs = cfg.get("rope_scaling")
    if not rs:
        return f
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "linear":
        return f / rs["factor"]
    if kind == "llama3":
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wl, high_wl = old / low, old / high
        wl = 2 * math.pi / f
        scaled = torch.where(wl > low_wl, f / factor, f)
        smooth = (old / wl - low) / (high - low)
        mid = (1 - smooth) * scaled / factor + smooth * scaled
        is_mid = ~(wl < high_wl) & ~(wl > low_wl)
        return torch.where(is_mid, mid, scaled)
    raise ValueError(kind)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(cfg, w, tokens):
    D = cfg["hidden_size"]
    H, KVH = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", D // H)
    eps = cfg["rms_norm_eps"]
    T = len(tokens)

    def rms(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g

    ids = torch.tensor(tokens)
    x = w["model.embed_tokens.weight"][ids]
    pos = torch.arange(T).float()
    ang = torch.outer(pos, inv_freq(cfg, hd))
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms(x, w[p + "input_layernorm.weight"])

        def lin(name, inp):
            y = inp @ w[p + name + ".weight"].T
            if p + name + ".bias" in w:
                y = y + w[p + name + ".bias"]
            return y

        q = lin("self_attn.q_proj", h).view(T, H, hd).transpose(0, 1)
        k = lin("self_attn.k_proj", h).view(T, KVH, hd).transpose(0, 1)
        v = lin("self_attn.v_proj", h).view(T, KVH, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KVH, dim=0)
        v = v.repeat_interleave(H // KVH, dim=0)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
        o = (att.softmax(-1) @ v).transpose(0, 1).reshape(T, H * hd)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = h @ w[p + "mlp.gate_proj.weight"].T
        u = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
    x = rms(x, w["model.norm.weight"])
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ head.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mkmodel", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    result = {"tool": "tools/torch_ref.py", "torch": torch.__version__, "std": float(STD),
              "tokens": TOKENS, "models": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in CONFIGS:
            d = os.path.join(tmp, name)
            subprocess.run([a.mkmodel, "--out", d, "--std", STD, "--seq-len", "64"] + args, check=True,
                           stdout=subprocess.DEVNULL)
            with open(os.path.join(d, "config.json")) as f:
                cfg = json.load(f)
            w = load_safetensors(os.path.join(d, "model.safetensors"))
            logits = forward(cfg, w, TOKENS)
            seed = int(args[args.index("--seed") + 1])
            result["models"].append({"name": name, "mkmodel_args": args, "seed": seed, "config": cfg,
                                     "logits": [[float("%.7g" % v) for v in row] for row in logits.tolist()]})
    with open(a.out, "w") as f:
        json.dump(result, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
