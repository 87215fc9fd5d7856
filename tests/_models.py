"""Small float64 models shared by the attribution tests.

Each builder seeds its own RNG state (the global RNG is restored afterwards),
returns a fresh model in eval mode, and never shares modules between models,
so tests may attach hooks or Captum rules without affecting each other.
"""

import torch
from torch import nn

DTYPE = torch.float64


def seeded(build, seed=0):
    """build() under a fixed seed (the global RNG restored), float64, eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
    return model.to(DTYPE).eval()


def linear(d_in=5, n_out=3, seed=0):
    """A linear model: S_c = w_c . x + b_c."""
    return seeded(lambda: nn.Sequential(nn.Linear(d_in, n_out)), seed)


def mlp(d_in=6, hidden=8, n_out=4, bias=True, seed=1, inplace=False):
    """A two-hidden-layer ReLU network (in-place ReLUs, as torchvision builds them, if asked)."""
    return seeded(
        lambda: nn.Sequential(
            nn.Linear(d_in, hidden, bias=bias),
            nn.ReLU(inplace=inplace),
            nn.Linear(hidden, hidden, bias=bias),
            nn.ReLU(inplace=inplace),
            nn.Linear(hidden, n_out, bias=bias),
        ),
        seed,
    )


def image_mlp(bias=True, seed=2, inplace=False):
    """A ReLU network on (N, 1, 4, 4) images, flattened first."""
    return seeded(
        lambda: nn.Sequential(
            nn.Flatten(),
            nn.Linear(16, 10, bias=bias),
            nn.ReLU(inplace=inplace),
            nn.Linear(10, 3, bias=bias),
        ),
        seed,
    )


def cnn(seed=3, inplace=False):
    """A small CNN on (N, 1, 8, 8) images; model[3] is the last conv (4x4 output),
    followed by a ReLU that is in-place if asked (as in torchvision's VGG/ResNet)."""
    return seeded(
        lambda: nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(inplace=inplace),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1),
            nn.ReLU(inplace=inplace),
            nn.Flatten(),
            nn.Linear(6 * 4 * 4, 5),
        ),
        seed,
    )


def smooth_mlp(d_in=4, seed=4):
    """A smooth (tanh/softplus) network with one output per example."""
    return seeded(
        lambda: nn.Sequential(
            nn.Linear(d_in, 7),
            nn.Tanh(),
            nn.Linear(7, 5),
            nn.Softplus(),
            nn.Linear(5, 1),
        ),
        seed,
    )


def minimum(x):
    """min(x1, x2) for a batch (N, 2)."""
    return torch.minimum(x[:, 0], x[:, 1])
