"""engram's CIFAR-style ResNet in PyTorch, with engram's parameter names
(nn/models.cpp, nn/blocks.cpp): a 3x3 stem conv (no bias) + BN + ReLU, no
max-pool; BasicBlocks of two 3x3 convs with a 1x1 conv + BN projection
shortcut where the shape changes; global average pooling; one linear layer.
forward returns (pooled features, logits), as engram's models do.

Shared by benchmarks/torch/bench_train.py, benchmarks/torch/twin_run.py and
tests/torch/check_checkpoint.py.
"""
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
        self.layers = []
        for stage, (count, planes) in enumerate(zip(blocks_per_stage, stage_planes)):
            blocks = []
            for i in range(count):
                blocks.append(BasicBlock(in_planes, planes, 2 if stage > 0 and i == 0 else 1))
                in_planes = planes
            self.layers.append(nn.Sequential(*blocks))
            setattr(self, f"layer{stage + 1}", self.layers[-1])  # engram's (and PyTorch's) names
        self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        for layer in self.layers:
            h = layer(h)
        features = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return features, self.linear(features)


def make_model(name, in_channels, num_classes):
    thin, wide = [16, 32, 64], [64, 128, 256, 512]
    cifar_depths = {"resnet8": 8, "resnet14": 14, "resnet20": 20, "resnet32": 32, "resnet56": 56, "resnet110": 110}
    if name in cifar_depths:
        n = (cifar_depths[name] - 2) // 6
        return ResNet([n, n, n], thin, in_channels, num_classes)
    if name == "resnet18":
        return ResNet([2, 2, 2, 2], wide, in_channels, num_classes)
    if name == "resnet34":
        return ResNet([3, 4, 6, 3], wide, in_channels, num_classes)
    raise ValueError(f"unknown model {name!r}; expected resnet20/32/56/110, resnet18 or resnet34")
