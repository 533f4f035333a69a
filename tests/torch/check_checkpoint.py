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
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

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


# The CIFAR ResNet-18 of kuangliu/pytorch-cifar, with engram's names.
class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, in_channels=3, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        in_planes = 64
        for stage, planes in enumerate([64, 128, 256, 512]):
            blocks = []
            for i in range(2):
                blocks.append(BasicBlock(in_planes, planes, 2 if stage > 0 and i == 0 else 1))
                in_planes = planes
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            out = layer(out)
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


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
    model = ResNet18()
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("optimizer.")}, strict=True)
    tracked = model.bn1.num_batches_tracked
    if tracked.dtype != torch.int64 or tracked.item() != caller_state["num_batches_tracked"]:
        print(f"bn1.num_batches_tracked: got {tracked} ({tracked.dtype}), engram wrote "
              f"{caller_state['num_batches_tracked']}")
        return False
    io, _ = read_safetensors(f"{folder}/engram_io.safetensors")
    model.eval()
    with torch.no_grad():
        logits = model(io["input"])
    return compare("(a) engram checkpoint in PyTorch", logits, io["logits"])


def export_torch_model(folder):
    torch.manual_seed(20250101)
    model = ResNet18()
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
        logits = model(x)
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
