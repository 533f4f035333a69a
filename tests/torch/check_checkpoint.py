#!/usr/bin/env python3
"""PyTorch side of engram's checkpoint interop test (driven by tests/cpu/test_torch_interop.cpp).

    check_checkpoint.py FOLDER

(a) Reads FOLDER/engram.ckpt (an engram checkpoint of the CIFAR ResNet-18 with
    SGD state) and FOLDER/engram_io.safetensors (input, logits computed by
    engram in eval mode), drops the `optimizer.` entries, loads the rest into
    the PyTorch ResNet-18 with load_state_dict(strict=True) and compares
    PyTorch's logits with engram's.
(b) Writes FOLDER/torch_weights.safetensors (a PyTorch-initialised ResNet-18
    whose batch-norm statistics were updated by two train-mode passes) and
    FOLDER/torch_io.safetensors (input, eval-mode logits) for engram to check.

Exits 0 when (a) matches, 1 otherwise. Uses a small safetensors reader/writer
of its own (the `safetensors` package is not a dependency).
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn

# engram's ResNet in PyTorch, shared with the training-step benchmark.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks", "torch"))
from engram_resnet import make_model  # noqa: E402

TOLERANCE = 1e-4  # |torch - engram| <= TOLERANCE * (1 + |engram|), f32 on the CPU

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "U8": torch.uint8, "I64": torch.int64}
NAMES = {dtype: name for name, dtype in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        raw = bytearray(data[8 + length + begin : 8 + length + end])
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"])
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, tensor in tensors.items():
        blob = tensor.detach().cpu().contiguous().numpy().tobytes()
        header[name] = {"dtype": NAMES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def compare(what, got, expected):
    worst = ((got - expected).abs() / (1 + expected.abs())).max().item()
    print(f"{what}: max |torch - engram| / (1 + |engram|) = {worst:.3e} (tolerance {TOLERANCE:g})")
    return worst <= TOLERANCE


def check_engram_checkpoint(folder):
    state, metadata = read_safetensors(f"{folder}/engram.ckpt")
    if metadata.get("format") != "engram-checkpoint-v1":
        print(f"engram.ckpt: metadata format is {metadata.get('format')!r}")
        return False
    caller_state = json.loads(metadata["engram"])
    optimizer_entries = [name for name in state if name.startswith("optimizer.")]
    if not optimizer_entries or "optimizer.0.momentum_buffer" not in state:
        print(f"engram.ckpt: expected SGD momentum buffers, found {optimizer_entries}")
        return False
    model = make_model("resnet18", 3, 10)
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("optimizer.")}, strict=True)
    tracked = model.bn1.num_batches_tracked
    if tracked.dtype != torch.int64 or tracked.item() != caller_state["num_batches_tracked"]:
        print(f"bn1.num_batches_tracked: got {tracked} ({tracked.dtype}), engram wrote "
              f"{caller_state['num_batches_tracked']}")
        return False
    io, _ = read_safetensors(f"{folder}/engram_io.safetensors")
    model.eval()
    with torch.no_grad():
        _, logits = model(io["input"])
    return compare("(a) engram checkpoint in PyTorch", logits, io["logits"])


def export_torch_model(folder):
    torch.manual_seed(20250101)
    model = make_model("resnet18", 3, 10)
    for module in model.modules():  # non-trivial affine parameters
        if isinstance(module, nn.BatchNorm2d):
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.normal_(module.bias, 0.0, 0.1)
    model.train()
    with torch.no_grad():  # two passes update the running statistics; num_batches_tracked becomes 2
        for _ in range(2):
            model(torch.randn(4, 3, 32, 32) * 1.5 + 0.2)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        _, logits = model(x)
    write_safetensors(f"{folder}/torch_weights.safetensors", model.state_dict(), {"written_by": "torch"})
    write_safetensors(f"{folder}/torch_io.safetensors", {"input": x, "logits": logits})
    print(f"(b) wrote the PyTorch ResNet-18 and its logits to {folder}")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    torch.set_num_threads(2)
    folder = sys.argv[1]
    ok = check_engram_checkpoint(folder)
    export_torch_model(folder)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
