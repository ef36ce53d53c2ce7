#!/usr/bin/python3
"""torch_optim_ref.py — PyTorch reference for selfalign's AdamW and gradient
clipping: runs torch.optim.AdamW and torch.nn.utils.clip_grad_norm_ on fixed
parameters and gradients and writes the trajectory that
tests/test_optim.c compares against.

    tools/torch_optim_ref.py > tests/data/adamw_ref.json
"""
import json
import math

import torch

N, STEPS = 12, 8
params0 = [math.sin(1.7 * i + 0.3) for i in range(N)]
# gradients vary by step and element, with large and tiny magnitudes
grads = [[math.cos(0.9 * i + 1.3 * s) * (10.0 if i % 5 == 0 else 0.01 if i % 7 == 0 else 1.0)
          for i in range(N)] for s in range(STEPS)]
lrs = [1e-2 * (1 - 0.05 * s) for s in range(STEPS)]
cfg = {"beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1, "max_norm": 5.0}

p = torch.nn.Parameter(torch.tensor(params0, dtype=torch.float32))
opt = torch.optim.AdamW([p], lr=lrs[0], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"],
                        weight_decay=cfg["weight_decay"])
traj, norms = [], []
for s in range(STEPS):
    for gr in opt.param_groups:
        gr["lr"] = lrs[s]
    p.grad = torch.tensor(grads[s], dtype=torch.float32)
    norms.append(float(torch.nn.utils.clip_grad_norm_([p], cfg["max_norm"])))
    opt.step()
    traj.append([float(x) for x in p.detach()])
print(json.dumps({"tool": "tools/torch_optim_ref.py", "torch": torch.__version__, "config": cfg,
                  "params0": params0, "grads": grads, "lrs": lrs, "norms": norms, "params": traj}))
