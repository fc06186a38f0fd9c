"""BBNN, the Bottom-up Broadcast Neural Network (Liu et al. 2021), as ../shared/bbnn/SPEC.md.

Input is a batch of log-mel clips laid out (N, 1, T=647, F=128): height is time, width is mel.
`forward` returns the class logits, the 32-d penultimate embedding (global average pool after
the final BN -> ReLU), and optionally the 416-channel output of the last dense block, globally
average-pooled.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

# Keras 2.0.6 BatchNormalization defaults, expressed in PyTorch terms.
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
BRANCH_CHANNELS = 32
N_BLOCKS = 3


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class BRC(nn.Sequential):
    """BatchNorm -> ReLU -> Conv (stride 1, 'same' padding)."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__()
        self.bn = batch_norm(c_in)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)


class Inception(nn.Module):
    """Four 32-channel branches over the same input, concatenated in this order."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        c = BRANCH_CHANNELS
        self.branch1 = BRC(c_in, c, 1)
        self.branch3 = nn.Sequential(BRC(c_in, c, 1), BRC(c, c, 3))
        self.branch5 = nn.Sequential(BRC(c_in, c, 1), BRC(c, c, 5))
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.branch_pool = BRC(c_in, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(self.pool(x))], dim=1
        )


class BBNNOutput(NamedTuple):
    logits: torch.Tensor
    embedding: torch.Tensor  # (N, 32) penultimate
    dense: torch.Tensor | None  # (N, 416) pooled last dense block, when asked for


class BBNN(nn.Module):
    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        c = BRANCH_CHANNELS
        self.n_classes = n_classes
        self.stem_conv = nn.Conv2d(1, c, 3, padding=1)
        self.stem_bn = batch_norm(c)
        self.stem_pool = nn.MaxPool2d((4, 1), stride=(4, 1))
        widths = [c + i * 4 * c for i in range(N_BLOCKS)]  # 32, 160, 288
        self.blocks = nn.ModuleList(Inception(w) for w in widths)
        self.dense_channels = c + N_BLOCKS * 4 * c  # 416
        self.transition = BRC(self.dense_channels, c, 1)
        self.transition_pool = nn.AvgPool2d(2, stride=2)
        self.head_bn = batch_norm(c)
        self.classifier = nn.Linear(c, n_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras initialisation: Xavier-uniform weights, zero biases."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def replace_classifier(self, n_classes: int) -> None:
        """New last layer for fine-tuning on another class set."""
        self.n_classes = n_classes
        self.classifier = nn.Linear(self.classifier.in_features, n_classes)
        nn.init.xavier_uniform_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: torch.Tensor, return_dense: bool = False) -> BBNNOutput:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        x = self.stem_pool(torch.relu(self.stem_bn(self.stem_conv(x))))
        for block in self.blocks:
            x = torch.cat([x, block(x)], dim=1)
        dense = x.mean(dim=(2, 3)) if return_dense else None
        x = self.transition_pool(self.transition(x))
        embedding = torch.relu(self.head_bn(x)).mean(dim=(2, 3))
        return BBNNOutput(self.classifier(embedding), embedding, dense)


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
