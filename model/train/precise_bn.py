"""Precise BatchNorm: running statistics recomputed exactly over the training windows.

During training, BatchNorm keeps exponential averages of batch statistics. With Keras's momentum
(0.99, i.e. PyTorch's 0.01) and a small data set, a few dozen steps leave them near their initial
values (mean 0, variance 1), so the network in inference mode is broken while training accuracy
looks perfect. Optimisation never reads these averages (training normalises by the batch), so they
can be replaced after each epoch by the statistics of the whole training set, measured with the
weights as they are now (Wu and Johnson, "Rethinking 'Batch' in BatchNorm", 2021): one forward
pass in training mode, no gradients, each BatchNorm's per-batch statistics merged per channel in
float64 over all windows and positions into the exact mean and unbiased variance (what PyTorch's
own update stores). The optimisation path is untouched, so a `paper` run still trains as the authors' did;
only what inference sees changes.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn


class _Moments:
    """Per-channel count, mean and sum of squared deviations of one BatchNorm's input, merged
    batch by batch in float64 (Chan et al.'s pairwise update, exact for any batch sizes)."""

    def __init__(self, channels: int) -> None:
        self.n = 0
        self.mean = torch.zeros(channels, dtype=torch.float64)
        self.m2 = torch.zeros(channels, dtype=torch.float64)

    def add(self, n_b: int, mean_b: torch.Tensor, unbiased_var_b: torch.Tensor) -> None:
        mean_b = mean_b.detach().double().cpu()
        m2_b = unbiased_var_b.detach().double().cpu() * max(1, n_b - 1)
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * (n_b / n)
        self.m2 += m2_b + delta.square() * (self.n * n_b / n)
        self.n = n

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mean, self.m2 / max(1, self.n - 1)


def batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, batches: Iterable[torch.Tensor],
                       should_stop: Callable[[], bool] | None = None) -> int:
    """Replace every BatchNorm's running mean and variance by its input's statistics over `batches`
    (model inputs, already on the model's device and layout). Returns the number of windows seen.

    BatchNorm layers run in training mode (normalising by the batch, as during optimisation) and
    everything else in inference mode; momentum, weights and the model's mode are left as they
    were. With momentum 1 each BatchNorm's own kernel leaves its batch's mean and unbiased variance
    in the running buffers, which a hook merges after every call: no extra pass over activations.
    Raises InterruptedError if should_stop() turns true (the old statistics stay)."""
    bns = batchnorms(model)
    if not bns:
        return 0
    moments = {bn: _Moments(bn.num_features) for bn in bns}

    def merge(bn, args, output) -> None:
        x = args[0]
        moments[bn].add(x.numel() // x.shape[1], bn.running_mean, bn.running_var)

    saved = {bn: (bn.momentum, bn.running_mean.clone(), bn.running_var.clone(),
                  None if bn.num_batches_tracked is None else bn.num_batches_tracked.clone()) for bn in bns}
    was_training = {m: m.training for m in model.modules()}
    hooks = [bn.register_forward_hook(merge) for bn in bns]
    seen = 0
    try:
        model.eval()
        for bn in bns:
            bn.train()
            bn.momentum = 1.0
        for x in batches:
            if should_stop and should_stop():
                raise InterruptedError("stopped while recomputing BatchNorm statistics")
            model(x)
            seen += x.shape[0]
    finally:
        for h in hooks:
            h.remove()
        for m, training in was_training.items():
            m.train(training)
        for bn, (momentum, mean, var, tracked) in saved.items():
            bn.momentum = momentum
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            if tracked is not None:
                bn.num_batches_tracked.copy_(tracked)
    if seen:
        for bn, mom in moments.items():
            mean, var = mom.mean_var()
            bn.running_mean.copy_(mean.to(bn.running_mean))
            bn.running_var.copy_(var.to(bn.running_var))
    return seen
