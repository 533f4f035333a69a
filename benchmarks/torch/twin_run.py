"""One training run of the PyTorch twin of engram's spaced_kd
(spaced_kd_twin.py): the models and projector, the optimiser and learning-rate
schedule, the KD losses, baseline / online / Spaced KD steps with the replay
buffer, the per-epoch metrics, evaluation and BN recalibration.

Items 9-21 of the twin's recipe (numbered as in spaced_kd_twin.py's
docstring), and where engram defines them:

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
"""
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from engram_resnet import make_model


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
