#!/usr/bin/env python3
"""PyTorch twin of benchmarks/bench_train.cpp: the time of one training step
(forward, cross-entropy, backward, SGD with momentum 0.9 and weight decay 5e-4)
of the same CIFAR-style ResNet on one fixed random batch. Prints the same JSON.

The model is engram's structure exactly (nn/models.cpp, nn/blocks.cpp): a 3x3
stem conv (no bias) + BN + ReLU, no max-pool; BasicBlocks of two 3x3 convs
with a 1x1 conv + BN projection shortcut where the shape changes; global
average pooling; one linear layer.

  python3 benchmarks/torch/bench_train.py --model resnet20 --batch 128 --shape 1,28,28 --device cpu --threads 2
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


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
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, blocks_per_stage, stage_planes, in_channels, num_classes):
        super().__init__()
        in_planes = stage_planes[0]
        self.conv1 = nn.Conv2d(in_channels, in_planes, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(in_planes)
        layers = []
        for stage, (count, planes) in enumerate(zip(blocks_per_stage, stage_planes)):
            blocks = []
            for i in range(count):
                blocks.append(BasicBlock(in_planes, planes, 2 if stage > 0 and i == 0 else 1))
                in_planes = planes
            layers.append(nn.Sequential(*blocks))
        self.layers = nn.ModuleList(layers)
        self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        for layer in self.layers:
            h = layer(h)
        features = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return features, self.linear(features)


def make_model(name, in_channels, num_classes):
    thin, wide = [16, 32, 64], [64, 128, 256, 512]
    cifar_depths = {"resnet20": 20, "resnet32": 32, "resnet56": 56, "resnet110": 110}
    if name in cifar_depths:
        n = (cifar_depths[name] - 2) // 6
        return ResNet([n, n, n], thin, in_channels, num_classes)
    if name == "resnet18":
        return ResNet([2, 2, 2, 2], wide, in_channels, num_classes)
    if name == "resnet34":
        return ResNet([3, 4, 6, 3], wide, in_channels, num_classes)
    sys.exit(f"bench_train.py: unknown model {name!r}; expected resnet20/32/56/110, resnet18 or resnet34")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--shape", default="1,28,28", help="input C,H,W")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    args = parser.parse_args()

    shape = [int(v) for v in args.shape.split(",")]
    if len(shape) != 3:
        sys.exit(f"bench_train.py: --shape must be C,H,W, got {args.shape!r}")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = make_model(args.model, shape[0], args.classes).to(device).train()
    sgd = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(args.batch, *shape, device=device)
    labels = torch.randint(0, args.classes, (args.batch,), device=device)

    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        loss = F.cross_entropy(model(images)[1], labels)
        sgd.zero_grad(set_to_none=True)
        loss.backward()
        sgd.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append((time.perf_counter() - start) * 1000.0)

    median = statistics.median(times)
    print(json.dumps({
        "benchmark": "train_step", "framework": "pytorch " + torch.__version__, "model": args.model,
        "batch": args.batch, "shape": shape, "classes": args.classes, "device": device,
        "threads": torch.get_num_threads() if device == "cpu" else 0, "steps": args.steps, "warmup": args.warmup,
        "ms_per_step_median": median, "ms_per_step_min": min(times),
        "images_per_s": 1000.0 * args.batch / median}, indent=2))


if __name__ == "__main__":
    main()
