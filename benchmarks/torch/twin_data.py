"""Data of the PyTorch twin of engram's spaced_kd (spaced_kd_twin.py): the
Fashion-MNIST / MNIST IDX reader, engram's augmentation (RandomCrop with zero
bytes, the optional rotation) and normalisation, the training batches as a
pure function of (seed, epoch, step), and the evaluation batches.

Items 4-8 of the twin's recipe (numbered as in spaced_kd_twin.py's
docstring), and where engram defines them:

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
"""
import gzip
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# name: (mean, std, crop padding, default folder); neither has a flip.
DATASETS = {
    "fashion-mnist": (0.2860, 0.3530, 2, "/usr/share/datasets/fashion-mnist"),
    "mnist": (0.1307, 0.3081, 2, "datasets/mnist"),
}


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
