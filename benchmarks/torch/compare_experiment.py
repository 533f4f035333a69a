#!/usr/bin/env python3
"""Compares an engram spaced_kd output folder with the PyTorch twin's
(spaced_kd_twin.py): for every row both have (baseline, online, spaced-s<s>),
the student's final test accuracy, and per epoch the student's and the
teacher's training loss, as mean ± sample std over seeds in each framework,
the difference engram - PyTorch, its standard error sqrt(sd1²/n1 + sd2²/n2)
and whether the difference is within 2 SE. Also checks that the two agree on
the configuration (table.json), on each epoch's learning rate and on each
model's number of steps per epoch, which the recipe fixes.

  compare_experiment.py ENGRAM_OUT TORCH_OUT [--markdown FILE]

Both folders hold <row>/seed<k>/result.json (distill/experiment.cpp to_json).
"""
import argparse
import glob
import json
import math
import os
import re
import statistics

CONFIG_KEYS = ("dataset", "teacher", "student", "epochs", "subset", "test_subset", "bn_recalibrate_batches")


def load_rows(folder):
    """{row name: [history of each seed, in seed order]}."""
    rows = {}
    for path in glob.glob(os.path.join(folder, "*", "seed*", "result.json")):
        row = os.path.basename(os.path.dirname(os.path.dirname(path)))
        seed = int(re.sub(r"\D", "", os.path.basename(os.path.dirname(path))))
        with open(path) as f:
            rows.setdefault(row, {})[seed] = json.load(f)["history"]
    return {row: [seeds[k] for k in sorted(seeds)] for row, seeds in rows.items()}


def row_order(name):
    return (["baseline", "online"].index(name) if name in ("baseline", "online") else 2, name)


def mean_sd(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values)


def compare(engram, torch):
    """The comparison of two lists of per-seed values; None when either has none."""
    a, b = mean_sd(engram), mean_sd(torch)
    if a is None or b is None:
        return None
    diff = a[0] - b[0]
    se = math.sqrt(a[1] ** 2 / a[2] + b[1] ** 2 / b[2])
    within = "n/a" if min(a[2], b[2]) < 2 else ("yes" if abs(diff) <= 2 * se else "no")
    return {"engram": a, "torch": b, "diff": diff, "se": se, "within": within}


def figure(stat, digits):
    m, sd, n = stat
    return f"{m:.{digits}f} ± {sd:.{digits}f} (n={n})"


def values(histories, key, epoch=-1):
    """Each seed's `key` at `epoch` (an index into the history; -1: the last epoch)."""
    return [h[epoch].get(key) if -len(h) <= epoch < len(h) else None for h in histories]


def recipe_checks(engram_dir, torch_dir, engram, torch):
    """Lines naming every disagreement the recipe should have ruled out."""
    problems = []
    tables = []
    for folder in (engram_dir, torch_dir):
        path = os.path.join(folder, "table.json")
        tables.append(json.load(open(path)) if os.path.exists(path) else None)
    if all(tables):
        for key in CONFIG_KEYS:
            if tables[0].get(key) != tables[1].get(key):
                problems.append(f"configuration: {key} is {tables[0].get(key)!r} in engram, "
                                f"{tables[1].get(key)!r} in PyTorch")
    for row in sorted(set(engram) & set(torch), key=row_order):
        e, t = engram[row][0], torch[row][0]
        if len(e) != len(t):
            problems.append(f"{row}: {len(e)} epochs in engram, {len(t)} in PyTorch")
        for ee, te in zip(e, t):
            for key in ("steps", "teacher_steps"):
                if ee.get(key) != te.get(key):
                    problems.append(f"{row} epoch {ee['epoch']}: {key} {ee.get(key)} in engram, "
                                    f"{te.get(key)} in PyTorch")
            if not math.isclose(ee["lr"], te["lr"], rel_tol=1e-6, abs_tol=1e-12):
                problems.append(f"{row} epoch {ee['epoch']}: lr {ee['lr']:.6g} in engram, {te['lr']:.6g} in PyTorch")
    return problems


def main():
    p = argparse.ArgumentParser(description="engram spaced_kd vs its PyTorch twin, over seeds")
    p.add_argument("engram_out")
    p.add_argument("torch_out")
    p.add_argument("--markdown", help="also write the Markdown table here")
    a = p.parse_args()
    engram, torch = load_rows(a.engram_out), load_rows(a.torch_out)
    common = sorted(set(engram) & set(torch), key=row_order)
    for row in sorted(set(engram) ^ set(torch)):
        print(f"note: row {row} is only in {'engram' if row in engram else 'PyTorch'}'s output")
    if not common:
        raise SystemExit("compare_experiment: no row in both folders")

    lines = []  # (row, quantity, comparison, digits)
    for row in common:
        e, t = engram[row], torch[row]
        lines.append((row, "final test acc (%)", compare(values(e, "test_acc"), values(t, "test_acc")), 2))
        lines.append((row, "final test acc, BN recal (%)",
                      compare(values(e, "test_acc_bn_recal"), values(t, "test_acc_bn_recal")), 2))
        lines.append((row, "teacher final test acc (%)",
                      compare(values(e, "teacher_test_acc"), values(t, "teacher_test_acc")), 2))
        for prefix, who in (("", "student"), ("teacher_", "teacher")):
            for epoch in range(min(len(e[0]), len(t[0]))):
                key = prefix + "train_loss"
                lines.append((row, f"{who} train loss, epoch {epoch + 1}",
                              compare(values(e, key, epoch), values(t, key, epoch)), 4))
    lines = [line for line in lines if line[2] is not None]

    for row, quantity, c, d in lines:
        print(f"{row:12s} {quantity:30s} engram {figure(c['engram'], d)}, PyTorch {figure(c['torch'], d)}, "
              f"difference {c['diff']:+.{d}f}, SE {c['se']:.{d}f}, within 2 SE: {c['within']}")
    judged = [c for _, _, c, _ in lines if c["within"] != "n/a"]
    outside = sum(c["within"] == "no" for c in judged)
    print(f"\n{outside} of {len(judged)} comparisons outside 2 SE (about 5 % of them are expected to be, by chance)")
    problems = recipe_checks(a.engram_out, a.torch_out, engram, torch)
    for problem in problems:
        print(f"recipe mismatch: {problem}")
    if not problems:
        print("recipe checks (configuration, lr per epoch, steps per epoch): the same in both")

    md = ["| row | quantity | engram | PyTorch | engram − PyTorch | SE | within 2 SE |",
          "|---|---|---|---|---|---|---|"]
    for row, quantity, c, d in lines:
        md.append(f"| {row} | {quantity} | {figure(c['engram'], d)} | {figure(c['torch'], d)} | "
                  f"{c['diff']:+.{d}f} | {c['se']:.{d}f} | {c['within']} |")
    md.append("")
    md.append("Mean ± sample std over seeds; SE = sqrt(sd_engram²/n_engram + sd_torch²/n_torch). "
              f"{outside} of {len(judged)} differences lie outside 2 SE.")
    text = "\n".join(md) + "\n"
    print("\n" + text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
