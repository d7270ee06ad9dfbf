#!/usr/bin/env python3
"""Small PyTorch checkpoints for the loader tests (tests/tests/weights.rs): a transposed
(column-major) view, a half-precision tensor and a non-tensor entry, saved with torch.save's
zip format. Run with the venv of tools/parity/README.md:

    python tools/parity/make_weight_fixtures.py tests/fixtures/weights
"""
import os
import sys

import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
a = torch.arange(6, dtype=torch.float32).reshape(2, 3)
torch.save(
    {
        "model": {
            "module.transposed": a.t(),  # (3, 2) view, column-major storage
            "module.half": torch.tensor([0.5, -1.25, 3.0], dtype=torch.float16),
            "module.plain": a,
        },
        "step": 7,
    },
    os.path.join(out, "layouts.pth"),
)
print("wrote", os.path.join(out, "layouts.pth"))
