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

The recipe, item by item, and where engram defines it:

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

Data
 4. Fashion-MNIST IDX files (gzip or raw) in --data, else $ENGRAM_DATA_DIR,
    else /usr/share/datasets/fashion-mnist (data/idx.cpp load_mnist_format,
    default_fashion_mnist_dir). --subset N / --test-subset N: the first N
    images of the split, in file order (data/dataset.cpp first_samples).
 5. Training order: a fresh permutation per epoch from (seed, epoch); step k
    takes positions [k B, k B + B); drop_last, so steps_per_epoch = N // B
    (data/loader.cpp EpochSampler; data/loader.h LoaderOptions).
 6. Augmentation (data/dataset.cpp dataset_spec; data/augment.h
    draw_sample_augment, augmented_value): Fashion-MNIST and MNIST get
    RandomCrop(28, padding=2) with zero bytes as padding *before*
    normalisation (a padded pixel becomes (0 - mean) / std), no flip, no
    rotation, no Cutout. The crop offset of a sample is drawn from (seed,
    epoch, dataset index), uniform in [0, 2 pad] per axis, so a batch is a
    pure function of (seed, epoch, step) and a replay rebuilds it exactly.
    --crop-padding P overrides the padding (0: no crop); --rotation D adds,
    after the crop, a rotation by an angle uniform on the 0.1-degree grid of
    [-D, D], anticlockwise about the image centre ((W - 1) / 2, (H - 1) / 2),
    bilinear, zero bytes outside, rounded to the nearest byte
    (train/run_data.cpp training_augment; data/augment.h rotated_pixel);
    --no-augment: normalisation only.
 7. Normalisation: x / 255 in float32, then (x - mean) / std with
    Fashion-MNIST 0.2860 / 0.3530, MNIST 0.1307 / 0.3081 (data/batch.cpp
    make_batch_params; data/dataset.cpp dataset_spec).
 8. Evaluation: the test subset in file order, batches of --eval-batch, the
    short last batch kept, normalised without augmentation, model in eval mode
    under no_grad; test_loss = summed CE / N, test_acc = 100 correct / N
    (train/evaluate.cpp evaluate; data/loader.cpp Loader::evaluation). Every
    trained model (teacher and student) is evaluated after every epoch
    (train/run.cpp Loop::evaluate_models), the spaced student included in
    epochs where it has not stepped yet.

Models
 9. engram's CIFAR-style ResNets (nn/models.cpp ResNet, resnet_config;
    nn/blocks.cpp BasicBlock): benchmarks/torch/engram_resnet.py, which
    returns (pooled features, logits) as engram's ModelOutput. Features are
    the global average pool of the last stage, before the linear layer.
10. Initialisation (nn/layers.cpp default_init, Conv2d, Linear, BatchNorm2d):
    conv and linear weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)), linear
    biases the same bound, convs without bias, BN weight 1, bias 0, running
    mean 0, var 1, momentum 0.1, eps 1e-5. That is PyTorch's default
    initialisation of nn.Conv2d / nn.Linear / nn.BatchNorm2d, so the twin
    keeps the layers' own reset_parameters. BN's running variance uses the
    unbiased batch variance (kernels/cpu/batchnorm.cpp forward_training), as
    PyTorch. The generator is seeded with the run's seed just before the
    models are built (train/run.cpp Loop::Loop).
11. Projector P (distill/losses.cpp make_projector): Linear(student feature
    width, teacher feature width) -> ReLU -> Linear(teacher width, teacher
    width), default initialisation, built only when beta > 0 and a teacher
    exists, trained by the student's optimiser (distill/kd_strategy.cpp
    TeacherStudentStrategy::build).

Optimisation
12. SGD exactly as torch.optim.SGD with dampening 0: d = g + wd p;
    buf = d on the first step, else momentum buf + d; p -= lr (nesterov ?
    d + momentum buf : buf) (kernels/sgd.h, kernels/cpu/sgd.cpp sgd_update).
    Weight decay applies to every parameter: conv, linear weights and
    biases, BN weight and bias, projector (train/config.cpp make_optimizer
    gets model->parameters()). A parameter without a gradient is skipped
    (optim/optimizer.cpp SGD::step; Tensor::zero_grad leaves no gradient),
    hence zero_grad(set_to_none=True). AdamW as torch.optim.AdamW, betas
    (0.9, 0.999), eps 1e-8 (kernels/adamw.h).
13. Schedule (optim/schedule.cpp; train/config.cpp make_schedule): a function
    of the fractional epoch, evaluated per step at lr(epoch + step /
    steps_per_epoch). cosine: eta_min 0, over (epochs - warmup) epochs;
    multistep: lr gamma^(milestones passed), milestones shifted by the
    warm-up; warm-up: linear from 0.1 lr(0) to lr(0) over --warmup epochs.
    A step on batch (epoch, step) uses that batch's lr whenever it is taken:
    a replayed student step uses the lr the batch had when the teacher saw
    it (train/run.cpp Loop::learn). The epoch's reported lr is lr(epoch)
    (train/run.cpp Loop::run).

Losses (distill/losses.cpp kd_student_loss; kernels/loss.h distill_loss)
14. Baseline and teacher: CE with --label-smoothing (PyTorch's formula).
15. Student: (1 - alpha) CE_eps(z_s, y) + alpha T^2 KL(softmax(z_t/T) ||
    softmax(z_s/T)) with the mean over the batch ('batchmean'), plus
    beta ||P(f_s) - f_t||_2, one Euclidean norm over the whole batch
    (torch.dist), teacher logits and features detached. --kl reference:
    F.kl_div(softmax(z_s/T), softmax(z_t/T), 'batchmean') without T^2, the
    reference code's probabilities-as-log-probabilities term
    (kernels/loss.h kl_div_reference_compat).
16. --mutual (online): the teacher's loss is (1 - alpha) CE(z_t, y) + alpha
    T^2 KL(softmax(z_s/T) || softmax(z_t/T)) with the student detached
    (distill/losses.cpp mutual_teacher_loss).

Modes (distill/kd_strategy.cpp TeacherStudentStrategy)
17. baseline: one CE step of the student per batch (train/baseline.cpp).
18. online (and spaced with s = 0): teacher and student forward on the same
    batch, both in train mode; the teacher steps on its CE, then the student
    steps on the KD objective with the teacher's outputs of this forward,
    taken before the teacher's update (online_step).
19. spaced: interval I = floor(s * steps_per_epoch + 0.5), at least 1
    (distill/spaced.cpp replay_interval). The teacher steps on every fresh
    batch and the batch's (epoch, step) is buffered; when (t + 1) % I == 0
    for the global step t = epoch * steps_per_epoch + step, every buffered
    batch is rebuilt and replayed in the teacher's order, and the buffer is
    emptied (SpacedSchedule::teacher_stepped); intervals run across epochs.
    For a replayed batch the teacher predicts under no_grad in train mode
    (batch statistics, and its running statistics are updated), or in eval
    mode with --teacher-bn eval, then goes back to train mode; the student
    takes one step (replay). After the last epoch's last step the batches
    still buffered are replayed (finish / SpacedSchedule::flush), before that
    epoch's evaluation.

Metrics (train/step_records.cpp; train/metrics.cpp; train/run.cpp)
20. A model's train_loss for an epoch is the mean over the steps it took in
    that epoch of each step's loss (the student's: the whole KD objective),
    train_acc the percentage of correct training predictions of those steps
    (train-mode logits before the update), steps the count; null when it
    took no step (a spaced student before its first replay). Steps count in
    the epoch in which they are taken, so a replay at the start of epoch
    e + 1 of batches of epoch e counts in epoch e + 1.
21. test_acc_bn_recal (--bn-recalibrate K > 0): the test accuracy after
    recomputing every BN layer's running statistics from K training batches,
    batch(epoch + k // steps, k % steps) for k < K, i.e. augmented training
    batches of this epoch's order, with momentum 1 / (k + 1) (a cumulative
    mean), in train mode under no_grad; the statistics are then restored
    (train/bn_recalibrate.cpp bn_recalibrate; train/run.cpp evaluate_models).

Not in the twin: the offline, self and spaced-self modes, --sharpness,
--teacher-checkpoint, datasets other than Fashion-MNIST and MNIST.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engram_resnet import make_model  # noqa: E402

# name: (mean, std, crop padding, default folder); neither has a flip.
DATASETS = {
    "fashion-mnist": (0.2860, 0.3530, 2, "/usr/share/datasets/fashion-mnist"),
    "mnist": (0.1307, 0.3081, 2, "datasets/mnist"),
}
PRESETS = {
    "cpu": dict(teacher="resnet8", student="resnet8", epochs=3, subset=4096, test_subset=2000, seeds=3,
                bn_recalibrate=10),
    "gpu": dict(teacher="resnet56", student="resnet20", epochs=40, subset=0, test_subset=0, seeds=3,
                bn_recalibrate=50),
}
MODES = ("baseline", "online", "spaced")


# ---------------------------------------------------------------- data

def read_idx(path):
    """An IDX file (gzip or raw) as a uint8 numpy array."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(folder, train, first):
    """The first `first` (0: all) images [N, 1, H, W] uint8 and labels of a split."""
    arrays = []
    for kind in ("images-idx3", "labels-idx1"):
        stem = os.path.join(folder, f"{'train' if train else 't10k'}-{kind}-ubyte")
        path = next((p for p in (stem + ".gz", stem) if os.path.exists(p)), None)
        if path is None:
            sys.exit(f"spaced_kd_twin: missing {stem}[.gz]")
        arrays.append(read_idx(path))
    images, labels = arrays
    if first > len(labels):
        sys.exit(f"spaced_kd_twin: asked for {first} images, {folder} has {len(labels)}")
    n = first or len(labels)
    return torch.from_numpy(images[:n].copy()).unsqueeze(1), torch.from_numpy(labels[:n].astype(np.int64))


def normalise(images, mean, std):
    return (images.float() / 255 - mean) / std


def crop(images, offsets, pad):
    """RandomCrop(padding=pad) of uint8 images [B, C, H, W], zero bytes as padding; offsets [B, 2] in [0, 2 pad]."""
    padded = F.pad(images, (pad, pad, pad, pad))
    h, w = images.shape[2:]
    return torch.stack([padded[i, :, y:y + h, x:x + w] for i, (y, x) in enumerate(offsets.tolist())])


def rotate(images, degrees):
    """Each uint8 image turned anticlockwise by its angle about its centre,
    bilinear, zero bytes outside, rounded to the nearest byte (data/augment.h
    rotated_pixel, in floating point instead of engram's fixed point)."""
    h, w = images.shape[2:]
    angle = (degrees * math.pi / 180)[:, None, None]
    dy, dx = torch.meshgrid(torch.arange(h) - (h - 1) / 2, torch.arange(w) - (w - 1) / 2, indexing="ij")
    source_x = angle.cos() * dx - angle.sin() * dy  # offsets from the centre, in pixels
    source_y = angle.sin() * dx + angle.cos() * dy
    grid = torch.stack((source_x / ((w - 1) / 2), source_y / ((h - 1) / 2)), -1)
    out = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return torch.floor(out + 0.5).clamp(0, 255).to(torch.uint8)


class TrainBatches:
    """Training batches; batch(epoch, step) is a pure function of (seed,
    epoch, step): the epoch's order and every sample's crop offset and
    rotation come from generators seeded by (seed, epoch), so that a sample's
    draws depend on (seed, epoch, dataset index) as in engram's data/loader.h
    and data/augment.h."""

    def __init__(self, images, labels, batch, seed, mean, std, pad, rotation, device):
        self.images, self.labels = images, labels
        self.batch_size, self.seed = batch, seed
        self.mean, self.std, self.device = mean, std, device
        self.pad, self.rotation_steps = pad, round(rotation * 10)  # angles on a 0.1-degree grid
        self.steps = len(labels) // batch  # drop_last
        self._draws = {}  # epoch -> (order, crop offsets, angles), a few recent epochs

    def _epoch_draws(self, epoch):
        if epoch not in self._draws:
            if len(self._draws) >= 8:
                del self._draws[next(iter(self._draws))]
            n, k = len(self.labels), self.rotation_steps
            streams = [torch.Generator().manual_seed(self.seed * 2**32 + 3 * epoch + i) for i in range(3)]
            order = torch.randperm(n, generator=streams[0])
            offsets = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=streams[1])
            angles = torch.randint(-k, k + 1, (n,), generator=streams[2]) / 10
            self._draws[epoch] = order, offsets, angles
        return self._draws[epoch]

    def batch(self, epoch, step):
        order, offsets, angles = self._epoch_draws(epoch)
        index = order[step * self.batch_size:(step + 1) * self.batch_size]
        images = self.images[index]
        if self.pad > 0:
            images = crop(images, offsets[index], self.pad)
        if self.rotation_steps > 0:
            images = rotate(images, angles[index])
        return normalise(images, self.mean, self.std).to(self.device), self.labels[index].to(self.device)


def test_batches(images, labels, eval_batch, mean, std, device):
    x = normalise(images, mean, std)
    return [(x[i:i + eval_batch].to(device), labels[i:i + eval_batch].to(device))
            for i in range(0, len(labels), eval_batch)]


# ---------------------------------------------------------------- optimisation

class Schedule:
    """optim/schedule.cpp as configured by train/config.cpp make_schedule."""

    def __init__(self, args):
        self.a = args

    def _inner(self, epoch):
        a = self.a
        if a.schedule == "constant":
            return a.lr
        if a.schedule == "multistep":
            return a.lr * a.gamma ** sum(epoch >= m - a.warmup for m in a.milestones)
        t = min(max(epoch / (a.epochs - a.warmup), 0.0), 1.0)
        return a.lr * 0.5 * (1 + math.cos(math.pi * t))

    def lr_at(self, epoch):
        w = self.a.warmup
        if w <= 0 or epoch >= w:
            return self._inner(epoch - w)
        return (0.1 + 0.9 * epoch / w) * self._inner(0.0)


def make_optimizer(args, params):
    if args.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=args.wd)
    return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, dampening=0, weight_decay=args.wd,
                           nesterov=args.nesterov)


def replay_interval(s, steps_per_epoch):
    return 0 if s == 0 else max(1, math.floor(s * steps_per_epoch + 0.5))


# ---------------------------------------------------------------- losses

def kd_term(z, z_teacher, args):
    """T^2 KL(softmax(z_teacher/T) || softmax(z/T)), batchmean, or the
    reference's form: probabilities as the input and no T^2."""
    T = args.temperature
    q = F.softmax(z_teacher / T, 1)
    if args.kl == "reference":
        return F.kl_div(F.softmax(z / T, 1), q, reduction="batchmean")
    return T * T * F.kl_div(F.log_softmax(z / T, 1), q, reduction="batchmean")


def kd_student_loss(features, logits, labels, teacher, projector, args):
    ce = F.cross_entropy(logits, labels, label_smoothing=args.label_smoothing)
    if teacher is None:
        return ce
    t_features, t_logits = (t.detach() for t in teacher)
    loss = (1 - args.alpha) * ce + args.alpha * kd_term(logits, t_logits, args)
    if args.beta > 0:
        loss = loss + args.beta * torch.dist(projector(features), t_features)
    return loss


# ---------------------------------------------------------------- one run

class Records:
    """One model's steps in one epoch (train/step_records.cpp)."""

    def __init__(self):
        self.losses, self.correct, self.samples = [], 0, 0

    def add(self, loss, logits, labels):
        self.losses.append(loss.item())
        self.correct += (logits.argmax(1) == labels).sum().item()
        self.samples += len(labels)

    def metrics(self):
        n = len(self.losses)
        return {"train_loss": sum(self.losses) / n if n else None,
                "train_acc": 100.0 * self.correct / self.samples if n else None, "steps": n}


def evaluate(model, batches):
    """(test loss, test accuracy %) in eval mode (train/evaluate.cpp)."""
    was_training = model.training
    model.eval()
    loss, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for x, y in batches:
            logits = model(x)[1]
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
    model.train(was_training)
    return loss / n, 100.0 * correct / n


def bn_recalibrated_accuracy(model, train, batches, epoch, tests):
    """Test accuracy after recomputing BN statistics on `batches` training batches (train/bn_recalibrate.cpp)."""
    layers = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone(), m.momentum)
             for m in layers]
    was_training = model.training
    model.train()
    with torch.no_grad():
        for k in range(batches):
            for m in layers:
                m.momentum = 1.0 / (k + 1)
            model(train.batch(epoch + k // train.steps, k % train.steps)[0])
    accuracy = evaluate(model, tests)[1]
    for m, (mean, var, tracked, momentum) in zip(layers, saved):
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
        m.num_batches_tracked.copy_(tracked)
        m.momentum = momentum
    model.train(was_training)
    return accuracy


class KdRun:
    """One row and seed: distill/kd_strategy.cpp TeacherStudentStrategy (and
    train/baseline.cpp BaselineStrategy) driven by train/run.cpp's loop."""

    def __init__(self, args, mode, s, seed, train, tests, channels, classes):
        self.a, self.mode, self.train, self.tests = args, mode, train, tests
        device = train.device
        torch.manual_seed(seed)
        self.teacher = make_model(args.teacher, channels, classes).to(device) if mode != "baseline" else None
        self.student = make_model(args.student, channels, classes).to(device)
        params = list(self.student.parameters())
        self.projector = None
        if self.teacher is not None and args.beta > 0:
            width_s, width_t = self.student.linear.in_features, self.teacher.linear.in_features
            self.projector = nn.Sequential(nn.Linear(width_s, width_t), nn.ReLU(), nn.Linear(width_t, width_t))
            self.projector.to(device)
            params += list(self.projector.parameters())
        self.opt_s = make_optimizer(args, params)
        self.opt_t = make_optimizer(args, self.teacher.parameters()) if self.teacher is not None else None
        self.schedule = Schedule(args)
        self.interval = replay_interval(s, train.steps) if mode == "spaced" else 0
        self.buffer = []

    def learn(self, optimizer, records, ref, loss, logits, labels):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for group in optimizer.param_groups:
            group["lr"] = self.schedule.lr_at(ref[0] + ref[1] / self.train.steps)
        optimizer.step()
        records.add(loss.detach(), logits.detach(), labels)

    def student_step(self, ref, x, y, teacher_out):
        features, logits = self.student(x)
        loss = kd_student_loss(features, logits, y, teacher_out, self.projector, self.a)
        self.learn(self.opt_s, self.rec_s, ref, loss, logits, y)

    def teacher_step(self, ref, x, y):
        logits = self.teacher(x)[1]
        loss = F.cross_entropy(logits, y, label_smoothing=self.a.label_smoothing)
        self.learn(self.opt_t, self.rec_t, ref, loss, logits, y)

    def online_step(self, ref, x, y):
        t_features, t_logits = self.teacher(x)
        s_features, s_logits = self.student(x)
        t_loss = F.cross_entropy(t_logits, y, label_smoothing=self.a.label_smoothing)
        if self.a.mutual:
            t_loss = (1 - self.a.alpha) * t_loss + self.a.alpha * kd_term(t_logits, s_logits.detach(), self.a)
        s_loss = kd_student_loss(s_features, s_logits, y, (t_features, t_logits), self.projector, self.a)
        self.learn(self.opt_t, self.rec_t, ref, t_loss, t_logits, y)
        self.learn(self.opt_s, self.rec_s, ref, s_loss, s_logits, y)

    def replay(self, ref):
        x, y = self.train.batch(*ref)
        with torch.no_grad():
            if self.a.teacher_bn == "eval":
                self.teacher.eval()
            teacher_out = self.teacher(x)
            self.teacher.train()
        self.student_step(ref, x, y, teacher_out)

    def step(self, ref):
        x, y = self.train.batch(*ref)
        if self.teacher is None:
            return self.student_step(ref, x, y, None)
        if self.interval == 0:
            return self.online_step(ref, x, y)
        self.teacher_step(ref, x, y)
        self.buffer.append(ref)
        if (ref[0] * self.train.steps + ref[1] + 1) % self.interval == 0:
            self.flush()

    def flush(self):
        due, self.buffer = self.buffer, []
        for ref in due:
            self.replay(ref)

    def model_metrics(self, model, records, epoch):
        m = records.metrics()
        m["test_loss"], m["test_acc"] = evaluate(model, self.tests)
        m["test_acc_bn_recal"] = None
        if self.a.bn_recalibrate > 0:
            m["test_acc_bn_recal"] = bn_recalibrated_accuracy(model, self.train, self.a.bn_recalibrate, epoch,
                                                              self.tests)
        return m

    def run(self, label):
        history = []
        for epoch in range(self.a.epochs):
            start = time.time()
            self.rec_s, self.rec_t = Records(), Records()
            for step in range(self.train.steps):
                self.step((epoch, step))
            if epoch + 1 == self.a.epochs:
                self.flush()
            entry = {"epoch": epoch + 1}
            entry.update(self.model_metrics(self.student, self.rec_s, epoch))
            if self.teacher is not None:
                teacher = self.model_metrics(self.teacher, self.rec_t, epoch)
                entry.update({"teacher_" + k: v for k, v in teacher.items()})
            entry["lr"] = self.schedule.lr_at(float(epoch))
            entry["seconds"] = time.time() - start
            history.append(entry)
            print(f"{label} epoch {epoch + 1}/{self.a.epochs}: student train loss {fmt(entry['train_loss'])} "
                  f"({entry['steps']} steps), test acc {entry['test_acc']:.2f} %"
                  + (f" | teacher test acc {entry['teacher_test_acc']:.2f} %" if self.teacher else "")
                  + f" | lr {entry['lr']:.4g} | {entry['seconds']:.1f} s", flush=True)
        return history


def fmt(v):
    return "-" if v is None else f"{v:.4f}"


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
