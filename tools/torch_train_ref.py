#!/usr/bin/python3
"""torch_train_ref.py — a PyTorch twin of selfalign's training step.

For tiny random models written by build/tools/mkmodel (read back from their
Hugging Face directories through tools/torch_ref.py, whose forward pass this
reuses), a batch of B sequences of T tokens with a loss mask (prompt rows and
padding masked out, as in SFT) and records:

  * the logits of every row and the masked mean cross-entropy;
  * the gradient of every parameter tensor, named as in the HF checkpoint;
  * the global gradient norm before torch.nn.utils.clip_grad_norm_(1.0) and
    the parameters after one torch.optim.AdamW step (lr 1e-3, betas
    (0.9, 0.999), eps 1e-8, weight decay 0.1) on the clipped gradients
    (every element, or every k-th of each tensor: params_after_stride);
  * for the model with bias and tied embeddings, a LoRA run: rank 2,
    alpha 8, all seven projections,
    base frozen, A and B set to fixed non-zero values (stored, in our row
    order: A [rank, in], B [out, rank]; HF directories keep the HF q/k row
    order, which is the order our loader uses for them) and the loss and the
    gradient of every A and B.

Everything is computed in float64 from the fp32 weights, so the reference
carries no fp32 rounding of its own; tests/test_torch_train.c compares our
fp32 results against it. The LoRA forward adds scale * B A to each targeted
weight before the matmul: the same function of A and B as PEFT's
x W^T + scale * (x A^T) B^T, so the same gradients.

Needs Debian's python3-torch; the build and CI never run it.

    make build/tools/mkmodel
    tools/torch_train_ref.py --mkmodel build/tools/mkmodel --out tests/data/torch_train_ref.json
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_ref  # noqa: E402  (our own forward twin, beside this file)

# name, mkmodel arguments, whether the LoRA run is recorded for the model,
# and the stride of the params_after sample (1: every element). Sizes are as
# small as still exercises GQA, bias and tying: the file must stay ~400 KB.
CONFIGS = [
    ("gqa_untied", ["--arch", "llama", "--dim", "32", "--hidden", "32", "--layers", "2", "--heads", "4",
                    "--kv-heads", "2", "--vocab", "48", "--untied", "--seed", "21"], False, 4),
    ("qwen2_tied_bias", ["--arch", "qwen2", "--dim", "16", "--hidden", "24", "--layers", "2", "--heads", "2",
                         "--kv-heads", "1", "--vocab", "48", "--tied", "--bias", "--seed", "22"], True, 1),
]
STD = "0.08"
B, T = 2, 8
# B sequences of T + 1 tokens: inputs are [:-1], targets [1:]; token 9 repeats
# (embedding gradients must accumulate) and both sequences share a prefix.
SEQS = [[3, 9, 41, 9, 27, 40, 5, 18, 33],
        [3, 9, 12, 45, 9, 47, 0, 44, 7]]
# sequence 0: a 3-token prompt; sequence 1: a 2-token prompt and one padded row
MASK = [[0, 0, 0, 1, 1, 1, 1, 1],
        [0, 0, 1, 1, 1, 1, 1, 0]]
OPTIM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.1, "max_norm": 1.0}
LORA = {"rank": 2, "alpha": 8.0}
# our sa_lora_target order, and each projection's HF weight name
LORA_TARGETS = [("q", "self_attn.q_proj"), ("k", "self_attn.k_proj"), ("v", "self_attn.v_proj"),
                ("o", "self_attn.o_proj"), ("gate", "mlp.gate_proj"), ("up", "mlp.up_proj"),
                ("down", "mlp.down_proj")]


def fmt(x, digits=9):
    return float("%.*g" % (digits, x))


# 7 significant digits for gradients and logits (the test's tolerances are
# far wider); 9 for the parameters after the step (norm weights near 1 need
# them: the step moves each weight by ~1e-3, compared to 1e-6) and for LoRA
# A and B, which are inputs: 9 digits give back the exact fp32 value.
def flat(t, digits=7):
    return [fmt(v, digits) for v in t.detach().reshape(-1).tolist()]


def batch_loss(cfg, w):
    """Logits [B*T, V] and the masked mean cross-entropy over the batch."""
    logits = torch.cat([torch_ref.forward(cfg, w, s[:-1]) for s in SEQS], dim=0)
    targets = torch.tensor([t for s in SEQS for t in s[1:]])
    mask = torch.tensor([m for row in MASK for m in row], dtype=torch.float64)
    ce = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    return logits, (ce * mask).sum() / mask.sum()


def full_step(cfg, w0):
    w = {n: t.clone().double().requires_grad_(True) for n, t in w0.items()}
    logits, loss = batch_loss(cfg, w)
    loss.backward()
    names = list(w.keys())
    grads = {n: w[n].grad.clone() for n in names}
    params = [w[n] for n in names]
    norm = torch.nn.utils.clip_grad_norm_(params, OPTIM["max_norm"])
    opt = torch.optim.AdamW(params, lr=OPTIM["lr"], betas=(OPTIM["beta1"], OPTIM["beta2"]), eps=OPTIM["eps"],
                            weight_decay=OPTIM["weight_decay"])
    opt.step()
    return logits, loss, grads, float(norm), {n: w[n].detach() for n in names}


def lora_init(l, t, shape):
    """Fixed non-zero adapter values (no RNG: the test need not reproduce one)."""
    rows, cols = shape
    idx = torch.arange(rows * cols, dtype=torch.float64).reshape(rows, cols)
    v = torch.sin(0.37 * idx + 1.3 * l + 0.71 * t + 0.5) * (0.5 / math.sqrt(cols))
    return v.float().double()  # exactly representable in fp32, as the test holds them


def lora_step(cfg, w0):
    r, alpha = LORA["rank"], LORA["alpha"]
    scale = alpha / r
    base = {n: t.double() for n, t in w0.items()}
    adapters = []
    eff = dict(base)
    for l in range(cfg["num_hidden_layers"]):
        for ti, (tname, hf) in enumerate(LORA_TARGETS):
            key = f"model.layers.{l}.{hf}.weight"
            out_f, in_f = base[key].shape
            a = lora_init(l, 2 * ti, (r, in_f)).requires_grad_(True)
            b = lora_init(l, 2 * ti + 1, (out_f, r)).requires_grad_(True)
            eff[key] = base[key] + scale * (b @ a)
            adapters.append((l, tname, a, b))
    _, loss = batch_loss(cfg, eff)
    loss.backward()
    return {"rank": r, "alpha": alpha, "targets": "all", "loss": fmt(float(loss), 12),
            "adapters": [{"layer": l, "target": tn, "a": flat(a, 9), "b": flat(b, 9), "grad_a": flat(a.grad),
                          "grad_b": flat(b.grad)} for l, tn, a, b in adapters]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mkmodel", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    result = {"tool": "tools/torch_train_ref.py", "torch": torch.__version__, "std": float(STD), "B": B, "T": T,
              "tokens": [t for s in SEQS for t in s[:-1]], "targets": [t for s in SEQS for t in s[1:]],
              "mask": [m for row in MASK for m in row], "optim": OPTIM, "models": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, args, with_lora, stride in CONFIGS:
            d = os.path.join(tmp, name)
            subprocess.run([a.mkmodel, "--out", d, "--std", STD, "--seq-len", "64"] + args, check=True,
                           stdout=subprocess.DEVNULL)
            with open(os.path.join(d, "config.json")) as f:
                cfg = json.load(f)
            w = torch_ref.load_safetensors(os.path.join(d, "model.safetensors"))
            logits, loss, grads, norm, after = full_step(cfg, w)
            rec = {"name": name, "mkmodel_args": args, "seed": int(args[args.index("--seed") + 1]), "config": cfg,
                   "loss": fmt(float(loss), 12), "n_counted": sum(map(sum, MASK)), "grad_norm": fmt(norm, 12),
                   "logits": [flat(row) for row in logits],
                   "grads": {n: flat(g) for n, g in grads.items()},
                   "params_after_stride": stride,
                   "params_after": {n: flat(p.reshape(-1)[::stride], 9) for n, p in after.items()}}
            if with_lora:
                rec["lora"] = lora_step(cfg, w)
            result["models"].append(rec)
    with open(a.out, "w") as f:
        json.dump(result, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
