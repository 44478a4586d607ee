#!/usr/bin/env python3
"""Golden learning rates from transformers' schedulers (tests/data/train/lr_schedule.json).

For each (type, lr, total, warmup, kwargs) the learning rate torch's optimizer holds before each
optimizer step 0..total (what the trainer logs), from transformers.get_scheduler.
  python3 tools/gen_golden_lr.py tests/data/train/lr_schedule.json
"""
import json
import sys

import torch
from transformers import get_scheduler

CASES = [
    ("cosine", 1e-4, 20, 0, {}),
    ("cosine", 2e-3, 37, 4, {}),
    ("linear", 1e-3, 15, 3, {}),
    ("constant_with_warmup", 5e-4, 10, 4, {}),
    ("constant", 5e-4, 6, 0, {}),
    ("cosine_with_min_lr", 2e-3, 30, 3, {"min_lr_rate": 0.1}),
    ("cosine_with_min_lr", 1e-3, 25, 0, {"min_lr": 1e-4}),
]


def main(out):
    cases = []
    for typ, lr, total, warmup, kw in CASES:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.AdamW([p], lr=lr)
        sched = get_scheduler(typ, opt, num_warmup_steps=warmup, num_training_steps=total,
                              scheduler_specific_kwargs=kw or None)
        lrs = []
        for _ in range(total + 1):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        cases.append({"type": typ, "lr": lr, "total_steps": total, "warmup_steps": warmup, "kwargs": kw, "lrs": lrs})
    with open(out, "w") as f:
        json.dump({"generator": "tools/gen_golden_lr.py", "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
