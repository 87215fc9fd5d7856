"""The book's small models and their pretrained weights.

Every model is a plain ``nn.Sequential`` (so each layer can be read, hooked or
replaced) mapping a batch of inputs to one score per class: logits of shape (N, C),
or (N, 1) for the tabular regression. ``load_pretrained(name)`` builds the model,
checks the SHA-256 of its weights file in ``data/models/``, loads the weights with
``torch.load(..., weights_only=True)`` and returns it in eval mode.

The weights are trained by ``tools/train_models.py`` from a fixed seed; the test
accuracies are in ``data/README.md`` and asserted in ``tests/test_models.py``.
"""
from __future__ import annotations

import torch
from torch import nn

from . import data


def digits_mlp(hidden: tuple[int, ...] = (128, 64), bias: bool = True) -> nn.Sequential:
    """An MLP for the 8x8 digits: (N, 1, 8, 8) -> 64 -> hidden... -> 10 logits, ReLU
    between layers. ``bias=False`` gives a positively homogeneous network (chapter 04)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = 64
    for h in hidden:
        layers += [nn.Linear(width, h, bias=bias), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, 10, bias=bias))
    return nn.Sequential(*layers)


def digits_cnn() -> nn.Sequential:
    """A small CNN for the 8x8 digits: two 3x3 convolutions (16 and 32 channels, 8x8
    resolution), a 2x2 max-pool to 4x4, then 512 -> 64 -> 10 logits."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def synthetic_cnn() -> nn.Sequential:
    """A CNN for the 32x32 synthetic glyphs: three 3x3 convolutions (16, 32, 32
    channels) with a 2x2 *average* pool after the first two, so the last convolution
    (index 6, its ReLU is index 7) works at 8x8 -- the resolution of a Grad-CAM map --
    then global average pooling and a linear layer to 4 logits.

    Average pools (not max-pools, not strides) pass every pixel's gradient on, so the
    gradient maps carry no period-2 grid (a max-pool routes the gradient through one
    pixel in four). Trained with batch normalisation, which ``tools/train_models.py``
    folds into the convolutions before saving, so the shipped model is plain
    convolutions and ReLUs (no layer keeps statistics)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(32, len(data.SYNTHETIC_CLASSES)),
    )


def synthetic_cnn_batchnorm() -> nn.Sequential:
    """``synthetic_cnn`` with a BatchNorm2d after each convolution: the network that
    ``tools/train_models.py`` trains (it learns much faster) before folding each
    batch norm into the convolution before it (:func:`fold_batchnorm`)."""
    plain = synthetic_cnn()
    layers: list[nn.Module] = []
    for layer in plain:
        layers.append(layer)
        if isinstance(layer, nn.Conv2d):
            layers.append(nn.BatchNorm2d(layer.out_channels))
    return nn.Sequential(*layers)


@torch.no_grad()
def fold_batchnorm(trained: nn.Sequential) -> nn.Sequential:
    """The plain ``synthetic_cnn`` computing what ``trained`` (a
    ``synthetic_cnn_batchnorm`` in eval mode) computes: each convolution followed by
    a batch norm, y = gamma (conv(x) - mu) / sqrt(var + eps) + beta, becomes one
    convolution with weight w gamma / sqrt(var + eps) and bias
    (b - mu) gamma / sqrt(var + eps) + beta."""
    plain = synthetic_cnn()
    source = [m for m in trained if not isinstance(m, nn.BatchNorm2d)]
    norms = iter(m for m in trained if isinstance(m, nn.BatchNorm2d))
    for target, layer in zip(plain, source):
        if isinstance(layer, nn.Conv2d):
            bn = next(norms)
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            target.weight.copy_(layer.weight * scale[:, None, None, None])
            target.bias.copy_((layer.bias - bn.running_mean) * scale + bn.bias)
        elif isinstance(layer, nn.Linear):
            target.load_state_dict(layer.state_dict())
    return plain.eval()


def untrained(name: str, seed: int) -> nn.Sequential:
    """The architecture of pretrained model ``name`` with PyTorch's default random
    initialisation drawn from ``seed``, in eval mode: the *untrained* control of
    chapters 09-10 (a map that looks the same on this network owes nothing to
    training). Seeds give independent draws; the global RNG is left untouched."""
    from .contract import check_int

    check_int(seed, "seed", minimum=0)
    if name not in PRETRAINED:
        raise ValueError(f"name must be one of {sorted(PRETRAINED)}, got {name!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(name)
    return model.eval()


def tabular_linear() -> nn.Sequential:
    """Linear regression on the 6 standardised house features: price = w.x + b, (N, 1)."""
    return nn.Sequential(nn.Linear(len(data.TABULAR_FEATURES), 1))


# name -> (builder, data set it was trained on); weights live in data/models/<name>.pt
PRETRAINED = {
    "digits_mlp": (lambda: digits_mlp(), "digits"),
    "digits_mlp_nobias": (lambda: digits_mlp(bias=False), "digits"),
    "digits_mlp_deep": (lambda: digits_mlp(hidden=(64,) * 8), "digits"),
    "digits_cnn": (digits_cnn, "digits"),
    "synthetic_cnn": (synthetic_cnn, "synthetic"),
    "synthetic_cnn_hans": (synthetic_cnn, "synthetic_hans"),
    "synthetic_cnn_shuffled": (synthetic_cnn, "synthetic_shuffled"),
    "tabular_linear": (tabular_linear, "tabular"),
}


def build(name: str) -> nn.Sequential:
    """A freshly initialised (untrained) model of the architecture called ``name``."""
    if name not in PRETRAINED:
        raise ValueError(f"name must be one of {sorted(PRETRAINED)}, got {name!r}")
    return PRETRAINED[name][0]()


def load_pretrained(name: str) -> nn.Sequential:
    """The pretrained model ``name`` (one of ``PRETRAINED``), in eval mode.

    The weights file's SHA-256 is checked against ``data/checksums.sha256`` before it
    is read; a mismatch raises ValueError naming the file. Loading uses
    ``weights_only=True``, so the file can only hold tensors, never code.
    """
    model = build(name)
    path = data.verified_path(f"models/{name}.pt")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The share of examples whose highest logit is the label."""
    return (model(x).argmax(1) == y).float().mean().item()
