"""The one registry of the helpers' public functions, shared by every contract,
property and error test (``from conftest import METHODS, METRICS``).

Each entry says how to call the function with the common contract
``call(model, x, target, **options)``, which kind of model it takes and which of
the contract's options it accepts. ``test_registry.py`` checks that every public
function of ``helpers.attribution`` and ``helpers.metrics`` is registered here, so
a new helper cannot escape the shared tests.
"""
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

import _models as models
from helpers import attribution as A
from helpers import metrics as M

DTYPE = torch.float64


def last_conv(model):
    """The last nn.Conv2d of a model (Grad-CAM's usual layer); for a model that is
    not a module (a bad input in the error tests), a stand-in layer."""
    if not isinstance(model, nn.Module):
        return nn.Identity()
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]


def _references(x):
    """Two reference rows shaped like x's examples (expected gradients' baselines)."""
    if isinstance(x, torch.Tensor) and x.ndim >= 1 and x.is_floating_point():
        return torch.zeros(2, *x.shape[1:], dtype=x.dtype)
    return torch.zeros(2, 6, dtype=DTYPE)


@dataclass(frozen=True)
class Method:
    """How the shared tests call one attribution method."""

    call: Callable  # call(model, x, target, **options) -> attributions
    model: str = "any"  # "any" callable; "sequential": Linear/ReLU/Flatten only; "image": a CNN
    options: tuple = ()  # contract options it takes: baseline, batch_size, generator, steps, samples
    random: bool = False  # draws random numbers (pass a seeded generator to compare runs)
    stacked: bool = False  # returns (K, *x.shape): one map per path point
    takes_target: bool = True


METHODS = {
    "gradient": Method(lambda m, x, t, **kw: A.gradient(m, x, t, **kw)),
    "input_x_gradient": Method(lambda m, x, t, **kw: A.input_x_gradient(m, x, t, **kw)),
    "integrated_gradients": Method(
        lambda m, x, t, **kw: A.integrated_gradients(m, x, t, **{"steps": 4, **kw}),
        options=("baseline", "batch_size", "steps"),
    ),
    "path_gradients": Method(
        lambda m, x, t, **kw: A.path_gradients(m, x, t, **{"alphas": [0.2, 0.9], **kw}),
        options=("baseline", "batch_size"),
        stacked=True,
    ),
    "smoothgrad": Method(
        lambda m, x, t, **kw: A.smoothgrad(m, x, t, **{"samples": 3, **kw}),
        options=("batch_size", "generator", "samples"),
        random=True,
    ),
    "expected_gradients": Method(
        lambda m, x, t, **kw: A.expected_gradients(m, x, t, **{"baselines": _references(x), "samples": 3, **kw}),
        options=("batch_size", "generator", "samples"),
        random=True,
    ),
    "gradcam": Method(lambda m, x, t, **kw: A.gradcam(m, last_conv(m), x, t, **kw), model="image"),
    "lrp_epsilon": Method(lambda m, x, t, **kw: A.lrp_epsilon(m, x, t, **kw), model="sequential"),
    "deeplift_rescale": Method(
        lambda m, x, t, **kw: A.deeplift_rescale(m, x, t, **kw), model="sequential", options=("baseline",)
    ),
    "guided_backprop": Method(lambda m, x, t, **kw: A.guided_backprop(m, x, t, **kw)),
    "shapley_values": Method(
        lambda m, x, t, **kw: A.shapley_values(lambda z: m(z)[:, t], x, kw.get("baseline", 0.0)),
        options=("baseline",),
        takes_target=False,
    ),
    "occlusion": Method(
        lambda m, x, t, **kw: A.occlusion(m, x, t, **{"window": 2, "stride": 1, **kw}),
        options=("baseline", "batch_size"),
    ),
    "kernel_shap": Method(
        lambda m, x, t, **kw: A.kernel_shap(m, x, t, **{"samples": 8, **kw}),
        options=("baseline", "batch_size", "generator", "samples"),
        random=True,
    ),
}

# Functions of helpers.attribution that are not attribution methods of a model.
NOT_METHODS = {"quadrature"}


def example(name, *, inplace=False, seed=0):
    """(model, x, target) suited to METHODS[name], float64; in-place ReLUs if asked."""
    kind = METHODS[name].model
    g = torch.Generator().manual_seed(seed)
    if kind == "image":
        return models.cnn(inplace=inplace), torch.randn(3, 1, 8, 8, generator=g, dtype=DTYPE), torch.tensor([4, 0, 2])
    return models.mlp(inplace=inplace), torch.randn(3, 6, generator=g, dtype=DTYPE), torch.tensor([3, 0, 1])


def inplace_first_example(name, seed=0):
    """A model whose very first operation is an in-place ReLU on the input itself."""
    g = torch.Generator().manual_seed(seed)
    if METHODS[name].model == "image":
        model = models.seeded(
            lambda: nn.Sequential(
                nn.ReLU(inplace=True), nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(inplace=True),
                nn.Flatten(), nn.Linear(3 * 8 * 8, 5),
            )
        )
        return model, torch.randn(3, 1, 8, 8, generator=g, dtype=DTYPE), torch.tensor([4, 0, 2])
    model = models.seeded(
        lambda: nn.Sequential(nn.Flatten(), nn.ReLU(inplace=True), nn.Linear(6, 8), nn.ReLU(inplace=True), nn.Linear(8, 4))
    )
    return model, torch.randn(3, 6, generator=g, dtype=DTYPE), torch.tensor([3, 0, 1])


# --- metrics ------------------------------------------------------------------


def _perturbations(x):
    """Two perturbations shaped like x (infidelity's I_k)."""
    if isinstance(x, torch.Tensor) and x.is_floating_point():
        return 0.1 * torch.ones(2, *x.shape, dtype=x.dtype)
    return torch.zeros(2, 3, 6, dtype=DTYPE)


@dataclass(frozen=True)
class Metric:
    """How the shared tests call one metric: call(model, x, attributions, target, **options)."""

    call: Callable
    uses_model: bool = True
    options: tuple = ()
    images: bool = False  # needs (N, C, H, W) images


METRICS = {
    "completeness_gap": Metric(
        lambda m, x, a, t, **kw: M.completeness_gap(m, x, a, t, **kw), options=("baseline",)
    ),
    "deletion_curve": Metric(
        lambda m, x, a, t, **kw: M.deletion_curve(m, x, a, t, **{"steps": 3, **kw}), options=("baseline", "steps")
    ),
    "insertion_curve": Metric(
        lambda m, x, a, t, **kw: M.insertion_curve(m, x, a, t, **{"steps": 3, **kw}), options=("baseline", "steps")
    ),
    "cascading_randomization": Metric(
        lambda m, x, a, t, **kw: M.cascading_randomization(m, x, A.gradient, t, **kw),
        options=("generator",),
    ),
    "area_under_curve": Metric(lambda m, x, a, t, **kw: M.area_under_curve(torch.linspace(0, 1, 4), a[:, :4]), uses_model=False),
    "spearman": Metric(lambda m, x, a, t, **kw: M.spearman(a, x), uses_model=False),
    "road_curve": Metric(
        lambda m, x, a, t, **kw: M.road_curve(m, x, a, t, **{"steps": 3, **kw}),
        options=("generator", "steps"),
        images=True,
    ),
    "infidelity": Metric(
        lambda m, x, a, t, **kw: M.infidelity(m, x, a, t, perturbations=_perturbations(x), **kw)
    ),
    "sensitivity_max": Metric(
        lambda m, x, a, t, **kw: M.sensitivity_max(m, x, A.gradient, t, **{"samples": 2, **kw}),
        options=("batch_size", "generator", "samples"),
    ),
    "controls": Metric(lambda m, x, a, t, **kw: M.controls(x), uses_model=False, images=True),
    "noisy_linear_imputation": Metric(
        lambda m, x, a, t, **kw: M.noisy_linear_imputation(x, x > 0), uses_model=False, images=True
    ),
    "ssim": Metric(lambda m, x, a, t, **kw: M.ssim(a, x), uses_model=False, images=True),
    "relevance_rank_accuracy": Metric(
        lambda m, x, a, t, **kw: M.relevance_rank_accuracy(a, x > 0), uses_model=False
    ),
    "mask_mass": Metric(lambda m, x, a, t, **kw: M.mask_mass(a, x > 0), uses_model=False),
    "pointing_game": Metric(lambda m, x, a, t, **kw: M.pointing_game(a, x > 0), uses_model=False),
}
