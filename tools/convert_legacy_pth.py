#!/usr/bin/env python3
"""Convert a PyTorch checkpoint (any format torch.load reads, including the legacy pre-1.6
pickle) into a .safetensors file that vbench-rs loads directly.

    python3 tools/convert_legacy_pth.py IN.pth OUT.safetensors [--key state_dict]

Needs `pip install torch safetensors`. Nested state dicts (`state_dict`, `model`, `module`) are
unwrapped and a `module.` prefix is stripped, as the Rust loader does.
"""
import argparse

import torch
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--key", default=None, help="key holding the state dict")
    a = ap.parse_args()
    obj = torch.load(a.src, map_location="cpu", weights_only=False)
    if a.key:
        obj = obj[a.key]
    elif isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
        for k in ("state_dict", "model", "module"):
            if k in obj and isinstance(obj[k], dict):
                obj = obj[k]
                break
    tensors = {}
    for k, v in obj.items():
        if torch.is_tensor(v):
            name = k[len("module."):] if k.startswith("module.") else k
            tensors[name] = v.detach().contiguous().clone()
    save_file(tensors, a.dst)
    print(f"wrote {len(tensors)} tensors to {a.dst}")


if __name__ == "__main__":
    main()
