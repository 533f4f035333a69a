#!/usr/bin/env python3
"""PyTorch twin of benchmarks/bench_train.cpp: the time of one training step
(forward, cross-entropy, backward, SGD with momentum 0.9 and weight decay 5e-4)
of the same CIFAR-style ResNet on one fixed random batch. Prints the same JSON.

The model is engram's structure exactly (engram_resnet.py).

  python3 benchmarks/torch/bench_train.py --model resnet20 --batch 128 --shape 1,28,28 --device cpu --threads 2
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from engram_resnet import make_model


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
