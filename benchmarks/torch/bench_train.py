#!/usr/bin/env python3
"""PyTorch twin of benchmarks/bench_train.cpp: the time of one step of the same
CIFAR-style ResNet on one fixed random batch, in eager PyTorch. Prints the same JSON.

  --step plain      one training step: forward, cross-entropy, backward, SGD
                    (momentum 0.9, weight decay 5e-4)
  --step online-kd  one online-KD step: a teacher SGD step on CE(teacher(x), y), then a
                    student SGD step on (1-a)*CE + a*T^2*KL(softmax(zt/T) || log_softmax(zs/T))
                    (batchmean) + beta*torch.dist(P(fs), ft), a 0.3, T 3, beta 0.03,
                    P = Linear -> ReLU -> Linear in the student's optimizer, teacher outputs
                    detached (docs/distillation.md); teacher and student are both --model
  --step eval       one evaluation forward pass (eval mode, torch.no_grad)

The model is engram's structure exactly (engram_resnet.py).

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

from engram_resnet import make_model


def kd_student_loss(zs, fs, y, zt, ft, proj, alpha=0.3, T=3.0, beta=0.03):
    """engram's distill::kd_student_loss with its defaults (docs/distillation.md)."""
    ce = F.cross_entropy(zs, y)
    kd = F.kl_div(F.log_softmax(zs / T, 1), F.softmax(zt.detach() / T, 1), reduction="batchmean") * T * T
    return (1 - alpha) * ce + alpha * kd + beta * torch.dist(proj(fs), ft.detach())


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
    parser.add_argument("--step", default="plain", choices=["plain", "online-kd", "eval"],
                        help="what one timed step is")
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
    model = make_model(args.model, shape[0], args.classes).to(device).train(args.step != "eval")
    params = list(model.parameters())
    if args.step == "online-kd":
        teacher = make_model(args.model, shape[0], args.classes).to(device).train()
        teacher_sgd = torch.optim.SGD(teacher.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        width_s, width_t = model.linear.in_features, teacher.linear.in_features
        projector = nn.Sequential(nn.Linear(width_s, width_t), nn.ReLU(), nn.Linear(width_t, width_t)).to(device)
        params += list(projector.parameters())  # as engram: the projector is in the student's optimizer
    sgd = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(args.batch, *shape, device=device)
    labels = torch.randint(0, args.classes, (args.batch,), device=device)

    def update(optimizer, loss):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def one_step():
        if args.step == "plain":
            update(sgd, F.cross_entropy(model(images)[1], labels))
        elif args.step == "online-kd":
            # engram's online step: both forwards, the teacher's CE step, then the
            # student's KD step from the teacher's (detached) outputs of this batch.
            ft, zt = teacher(images)
            fs, zs = model(images)
            teacher_loss = F.cross_entropy(zt, labels)
            student_loss = kd_student_loss(zs, fs, labels, zt, ft, projector)
            update(teacher_sgd, teacher_loss)
            update(sgd, student_loss)
        else:
            with torch.no_grad():
                model(images)

    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        one_step()
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append((time.perf_counter() - start) * 1000.0)

    median = statistics.median(times)
    print(json.dumps({
        "benchmark": "train_step", "framework": "pytorch " + torch.__version__, "step": args.step,
        "model": args.model,
        "batch": args.batch, "shape": shape, "classes": args.classes, "device": device,
        "threads": torch.get_num_threads() if device == "cpu" else 0, "steps": args.steps, "warmup": args.warmup,
        "ms_per_step_median": median, "ms_per_step_min": min(times),
        "images_per_s": 1000.0 * args.batch / median}, indent=2))


if __name__ == "__main__":
    main()
