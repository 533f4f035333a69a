#!/usr/bin/env python3
"""PyTorch twin of engram's main job, examples/spaced_kd.cpp: baseline, online
KD and Spaced KD trained over several seeds with engram's recipe, so that the
two frameworks can be compared run for run (benchmarks/compare_experiment.sh).
The random streams differ from engram's (torch's generators, not Philox), so
runs agree in distribution, not bit for bit.

  /usr/bin/python3 benchmarks/torch/spaced_kd_twin.py --preset cpu --seeds 4 --out runs/twin

It takes engram's flags (examples/train_flags.cpp TrainFlags, and the options
of examples/spaced_kd.cpp main) with engram's defaults, and writes
<out>/<row>/seed<k>/result.json with the keys of engram's result.json
(distill/experiment.cpp to_json(RunRecord), train/metrics.cpp epoch_json),
plus <out>/table.json with the configuration keys of engram's table.json.

The recipe, item by item, and where engram defines it: items 1-3
(configuration) here; items 4-8 (data) in twin_data.py, which reads the
dataset and builds the augmented batches; items 9-21 (models, optimisation,
losses, modes, metrics) in twin_run.py, which trains one row and seed. This
file is the command-line driver: flags, presets, rows, and the outputs.

Configuration
 1. Defaults: SGD lr 0.01 (distill/kd_run.h kd_train_defaults; plain training's
    0.1 is train/config.h TrainConfig), momentum 0.9, weight decay 5e-4, batch
    128, evaluation batch 500, cosine schedule, no warm-up (train/config.h
    TrainConfig); alpha 0.3, T 3, beta 0.03, no label smoothing, standard KL
    (distill/losses.h KdLossConfig); s = 1.5, teacher BN in train mode during
    replays (distill/kd_run.h KdRunConfig; examples/spaced_kd.cpp main).
    --optimizer adamw without --lr / --wd: lr 1e-3, wd 1e-2
    (examples/train_flags.cpp TrainFlags::apply).
 2. Presets, used for every flag not given (--preset, distill/presets.cpp
    fashion_mnist and examples/spaced_kd.cpp apply_preset; --budget,
    kCpuBudget and kGpuBudget in the committed examples/spaced_kd.cpp):
    cpu = resnet8 -> resnet8, 3 epochs, first 4096 training / 2000 test
    images, 3 seeds, BN recalibration on 10 batches; gpu = resnet56 ->
    resnet20, 40 epochs, all images, 3 seeds, 50 batches; their other values
    are item 1's. auto is gpu when the run's device is CUDA. Seeds are
    0 .. --seeds - 1. (The cifar100 and tiny-imagenet presets need datasets
    the twin does not read.)
 3. Rows: baseline, online, and one spaced row per --s value, named
    "spaced-s<s>" with s printed as C++'s ostream prints a double (%g)
    (distill/experiment.cpp Row::name). Output <out>/<row>/seed<k>/.

Not in the twin: the offline, self and spaced-self modes, --sharpness,
--teacher-checkpoint, datasets other than Fashion-MNIST and MNIST.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from twin_data import DATASETS, TrainBatches, load_split, test_batches  # noqa: E402
from twin_run import KdRun  # noqa: E402

PRESETS = {
    "cpu": dict(teacher="resnet8", student="resnet8", epochs=3, subset=4096, test_subset=2000, seeds=3,
                bn_recalibrate=10),
    "gpu": dict(teacher="resnet56", student="resnet20", epochs=40, subset=0, test_subset=0, seeds=3,
                bn_recalibrate=50),
}
MODES = ("baseline", "online", "spaced")


# ---------------------------------------------------------------- program

def parse_args(argv):
    p = argparse.ArgumentParser(description="PyTorch twin of engram's spaced_kd (see the module docstring)",
                                allow_abbrev=False)
    p.add_argument("--dataset", default="fashion-mnist", choices=sorted(DATASETS))
    p.add_argument("--data", "--data-dir", dest="data", default="", help="dataset folder")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--eval-batch", type=int, default=500)
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"])
    p.add_argument("--lr", type=float, help="default 0.01 (adamw: 0.001)")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--wd", type=float, help="default 5e-4 (adamw: 0.01, decoupled)")
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--schedule", default="cosine", choices=["constant", "multistep", "cosine"])
    p.add_argument("--milestones", type=lambda v: [float(m) for m in v.split(",")], default=[])
    p.add_argument("--gamma", type=float, default=0.1)
    p.add_argument("--warmup", type=float, default=0.0)
    p.add_argument("--bn-recalibrate", type=int)
    p.add_argument("--detect-anomaly", action="store_true", help="accepted for engram's flag set; no effect")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--crop-padding", type=int, default=-1, help="-1: the dataset's, 0: no crop")
    p.add_argument("--rotation", type=float, default=0.0, help="random rotation in [-D, D] degrees, D <= 45")
    p.add_argument("--subset", type=int)
    p.add_argument("--test-subset", type=int)
    p.add_argument("--modes", type=lambda v: v.split(","), default=list(MODES))
    p.add_argument("--s", "--spacing", dest="s", type=lambda v: [float(x) for x in v.split(",")], default=[1.5])
    p.add_argument("--seeds", type=int)
    p.add_argument("--preset", "--budget", dest="preset", default="auto",
                   choices=["auto", "cpu", "gpu", "cifar100", "tiny-imagenet"],
                   help="engram's defaults for flags not given (--budget in older engram versions)")
    p.add_argument("--teacher")
    p.add_argument("--student")
    p.add_argument("--alpha", type=float, default=0.3)
    p.add_argument("--temperature", type=float, default=3.0)
    p.add_argument("--beta", type=float, default=0.03)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--kl", default="standard", choices=["standard", "reference"])
    p.add_argument("--teacher-bn", default="train", choices=["train", "eval"])
    p.add_argument("--mutual", action="store_true")
    p.add_argument("--out", default="runs/spaced_kd_twin")
    p.add_argument("--resume", action="store_true", help="keep runs whose result.json exists")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    a = p.parse_args(argv)

    if a.device == "auto":
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    if a.preset in ("cifar100", "tiny-imagenet"):
        p.error(f"preset {a.preset}: the twin reads only Fashion-MNIST and MNIST")
    preset = PRESETS["gpu" if a.preset == "gpu" or (a.preset == "auto" and a.device == "cuda") else "cpu"]
    for key, value in preset.items():
        if getattr(a, key) is None or (key == "seeds" and a.seeds == 0):  # --seeds 0: the preset's
            setattr(a, key, value)
    if a.lr is None:
        a.lr = 1e-3 if a.optimizer == "adamw" else 0.01
    if a.wd is None:
        a.wd = 1e-2 if a.optimizer == "adamw" else 5e-4
    for mode in a.modes:
        if mode not in MODES:
            p.error(f"mode {mode!r} is not in the twin; expected {', '.join(MODES)}")
    if not (0 <= a.alpha <= 1 and a.temperature > 0 and a.beta >= 0 and all(s >= 0 for s in a.s)):
        p.error("needs alpha in [0, 1], temperature > 0, beta >= 0 and s >= 0")
    if a.mutual and any(mode != "online" and (mode != "spaced" or s != 0) for mode, s, _ in rows(a)):
        p.error("--mutual needs online KD in every row (mode online, or spaced with s 0)")
    if not 0 <= a.momentum < 1 or (a.nesterov and (a.optimizer != "sgd" or a.momentum == 0)):
        p.error("needs momentum in [0, 1), and --nesterov needs --optimizer sgd with momentum > 0")
    if a.schedule == "multistep" and (not a.milestones or a.milestones != sorted(set(a.milestones))
                                      or a.milestones[0] < a.warmup):
        p.error("--schedule multistep needs increasing --milestones, none inside the warm-up")
    if a.crop_padding < -1 or not 0 <= a.rotation <= 45:
        p.error("needs --crop-padding >= -1 and --rotation in [0, 45]")
    if not 0 <= a.warmup < a.epochs:
        p.error("--warmup must be in [0, epochs)")
    return a


def rows(args):
    out = []
    for mode in args.modes:
        for s in (args.s if mode == "spaced" else [0.0]):
            out.append((mode, s, f"spaced-s{s:g}" if mode == "spaced" else mode))
    return out


def config_json(args):
    """The configuration keys of engram's table.json (distill/experiment.cpp table_json), and the rest."""
    return {"dataset": args.dataset, "teacher": args.teacher, "student": args.student, "epochs": args.epochs,
            "subset": args.subset, "test_subset": args.test_subset, "bn_recalibrate_batches": args.bn_recalibrate,
            "device": args.device, "framework": f"pytorch {torch.__version__}",
            "recipe": {k: getattr(args, k) for k in ("batch", "eval_batch", "optimizer", "lr", "momentum", "wd",
                                                     "nesterov", "schedule", "milestones", "gamma", "warmup",
                                                     "alpha", "temperature", "beta", "label_smoothing", "kl",
                                                     "teacher_bn", "mutual", "no_augment", "crop_padding",
                                                     "rotation")}}


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    mean, std, pad, default_dir = DATASETS[args.dataset]
    pad = pad if args.crop_padding < 0 else args.crop_padding
    folder = args.data or (os.environ.get("ENGRAM_DATA_DIR") if args.dataset == "fashion-mnist" else "") or default_dir
    train_images, train_labels = load_split(folder, True, args.subset)
    test_images, test_labels = load_split(folder, False, args.test_subset)
    if args.batch > len(train_labels):
        sys.exit(f"spaced_kd_twin: --batch {args.batch} is more than the {len(train_labels)} training images")
    channels, classes = train_images.shape[1], 10
    tests = test_batches(test_images, test_labels, args.eval_batch, mean, std, args.device)
    print(f"spaced_kd_twin: {len(rows(args))} rows x {args.seeds} seeds on {args.device} ({args.threads} threads): "
          f"teacher {args.teacher}, student {args.student}, {args.epochs} epochs, {len(train_labels)} training / "
          f"{len(test_labels)} test images", flush=True)

    summary = []
    for mode, s, name in rows(args):
        last = []
        for seed in range(args.seeds):
            folder_out = os.path.join(args.out, name, f"seed{seed}")
            path = os.path.join(folder_out, "result.json")
            if args.resume and os.path.exists(path):
                with open(path) as f:
                    last.append(json.load(f)["history"][-1]["test_acc"])
                continue
            train = TrainBatches(train_images, train_labels, args.batch, seed, mean, std,
                                 0 if args.no_augment else pad, 0 if args.no_augment else args.rotation, args.device)
            history = KdRun(args, mode, s, seed, train, tests, channels, classes).run(f"{name} seed {seed}")
            os.makedirs(folder_out, exist_ok=True)
            record = {"seconds": sum(e["seconds"] for e in history), "history": history,
                      "config": config_json(args), "mode": mode, "s": s, "seed": seed}
            with open(path + ".tmp", "w") as f:
                json.dump(record, f, indent=2)
            os.replace(path + ".tmp", path)
            last.append(history[-1]["test_acc"])
        sd = float(np.std(last, ddof=1)) if len(last) > 1 else 0.0
        summary.append({"mode": mode, "s": s, "seeds": len(last),
                        "student_last": {"mean": float(np.mean(last)), "std": sd}})
        print(f"spaced_kd_twin: {name}: student last test accuracy {np.mean(last):.2f} ± {sd:.2f} %", flush=True)
    table = dict(config_json(args), rows=summary)
    with open(os.path.join(args.out, "table.json"), "w") as f:
        json.dump(table, f, indent=2)
    print(f"spaced_kd_twin: wrote {args.out}/<row>/seed<k>/result.json and table.json")


if __name__ == "__main__":
    main()
