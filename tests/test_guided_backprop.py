"""helpers.attribution.guided_backprop against Captum's GuidedBackprop, by hand,
and its promise to leave the caller's model and tensors alone."""

import copy
import warnings

import pytest
import torch
from captum.attr import GuidedBackprop
from torch import nn

import _models as models
from helpers import models as toy  # linear_layer: weights set by hand
from helpers.attribution import gradient, guided_backprop

DTYPE = torch.float64
TOL = dict(rtol=0, atol=1e-6)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


def _in_place(model):
    """A copy of model whose ReLUs work in place."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = True
    return model


def _deep_cnn(seed=5):
    # Three ReLUs, one after a max-pool and one after a linear layer: signs of the
    # gradient differ between layers, so the guide changes the result.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(6 * 4 * 4, 7), nn.ReLU(), nn.Linear(7, 5),
        )
    return model.to(DTYPE).eval()


CASES = {
    "mlp": (models.mlp, lambda: _randn(4, 6), 3, torch.tensor([3, 0, 1, 2])),
    "image_mlp": (models.image_mlp, lambda: _randn(3, 1, 4, 4), 1, torch.tensor([0, 2, 1])),
    "cnn": (models.cnn, lambda: _randn(3, 1, 8, 8), 4, torch.tensor([4, 0, 2])),
    "deep_cnn": (_deep_cnn, lambda: _randn(3, 2, 8, 8), 2, torch.tensor([1, 4, 0])),
}


def _captum_guided_backprop(model, x, target):
    # Captum warns (UserWarning) that it hooks the ReLUs and sets requires_grad on
    # the inputs: notes about its own internals, ignored here only.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="captum")
        return GuidedBackprop(model).attribute(x.clone(), target=target).detach()


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("target_kind", ["int", "tensor"])
@pytest.mark.parametrize("name", CASES)
def test_matches_captum(name, target_kind, in_place):
    build, make_x, int_target, tensor_target = CASES[name]
    model, x = build(), make_x()
    if in_place:
        model = _in_place(model)
    target = int_target if target_kind == "int" else tensor_target
    ours = guided_backprop(model, x, target)
    theirs = _captum_guided_backprop(build(), x, target)  # a fresh, not-in-place model
    torch.testing.assert_close(ours, theirs, **TOL)
    assert ours.shape == x.shape and ours.dtype == x.dtype and not ours.requires_grad


@pytest.mark.parametrize("name", CASES)
def test_differs_from_the_gradient_where_negative_gradients_reach_a_relu(name):
    # Otherwise the Captum comparison could pass with a plain gradient.
    build, make_x, int_target, _ = CASES[name]
    model, x = build(), make_x()
    assert (guided_backprop(model, x, int_target) - gradient(model, x, int_target)).abs().max() > 1e-3


def test_one_hidden_layer_by_hand():
    # S = v . ReLU(W x + b): backprop gives W^T (1[z > 0] * v); the guide keeps max(v, 0).
    W = [[1.0, -2.0], [0.5, 1.0], [-1.0, 1.0]]
    b = [0.0, 0.1, 0.2]
    v = [[2.0, -3.0, 4.0]]
    model = torch.nn.Sequential(
        toy.linear_layer(W, b), torch.nn.ReLU(), toy.linear_layer(v, [0.5])
    ).eval()
    x = torch.tensor([[1.0, 0.25], [-1.0, 2.0]], dtype=DTYPE)
    W, b, v = (torch.tensor(t, dtype=DTYPE) for t in (W, b, v[0]))
    active = (x @ W.T + b > 0).to(DTYPE)  # (N, 3)
    expected = (active * v.clamp(min=0)) @ W
    torch.testing.assert_close(guided_backprop(model, x), expected, rtol=0, atol=1e-12)
    # The plain gradient keeps the negative weight -3 of the second unit where it is active.
    torch.testing.assert_close(gradient(model, x), (active * v) @ W, rtol=0, atol=1e-12)
    assert not torch.allclose(expected, (active * v) @ W)


def test_equals_the_gradient_when_no_negative_gradient_reaches_a_relu():
    # Non-negative weights after the first layer: every gradient entering a ReLU is
    # >= 0, so the guide changes nothing.
    model = models.mlp(seed=7)
    with torch.no_grad():
        model[2].weight.abs_()
        model[4].weight.abs_()
    x = _randn(5, 6, seed=3)
    torch.testing.assert_close(guided_backprop(model, x, 1), gradient(model, x, 1), rtol=0, atol=1e-12)


def test_each_example_is_independent_of_the_batch():
    model, x = _deep_cnn(), _randn(4, 2, 8, 8, seed=4)
    target = torch.tensor([0, 1, 2, 3])
    batch = guided_backprop(model, x, target)
    for n in range(len(x)):
        torch.testing.assert_close(batch[n : n + 1], guided_backprop(model, x[n : n + 1], int(target[n])))


def _all_hooks(model):
    return [
        hooks
        for module in model.modules()
        for hooks in (module._forward_hooks, module._forward_pre_hooks, module._backward_hooks)
        if hooks
    ]


@pytest.mark.parametrize("in_place", [False, True])
def test_leaves_the_model_and_x_alone(in_place):
    model = _deep_cnn()
    if in_place:
        model = _in_place(model)
    before = copy.deepcopy(model.state_dict())
    x = _randn(2, 2, 8, 8, seed=6).requires_grad_(True)
    x_before = x.detach().clone()
    first = guided_backprop(model, x, 3)
    assert not _all_hooks(model)
    assert all(p.grad is None for p in model.parameters())
    assert x.grad is None and x.requires_grad
    torch.testing.assert_close(x.detach(), x_before, rtol=0, atol=0)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0)
    # The ordinary gradient of the same model is unaffected afterwards.
    torch.testing.assert_close(gradient(model, x, 3), gradient(_deep_cnn(), x, 3), rtol=0, atol=1e-12)
    torch.testing.assert_close(guided_backprop(model, x, 3), first, rtol=0, atol=0)


class _FailsAfterTheReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 4).double()
        self.relu = nn.ReLU()

    def forward(self, x):
        self.relu(self.linear(x))
        raise RuntimeError("boom")


def test_hooks_are_removed_when_the_forward_pass_fails():
    model = _FailsAfterTheReLU().eval()
    with pytest.raises(RuntimeError, match="boom"):
        guided_backprop(model, _randn(2, 3), 0)
    assert not _all_hooks(model)


def test_bad_arguments():
    model, x = models.mlp(), _randn(2, 6)
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        guided_backprop(lambda z: model(z), x, 0)
    with pytest.raises(TypeError, match="model must be callable"):
        guided_backprop("model", x, 0)
    with pytest.raises(ValueError, match="model must contain nn.ReLU modules"):
        guided_backprop(models.linear(d_in=6), x, 0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        guided_backprop(model, [[0.0] * 6], 0)
    with pytest.raises(TypeError, match="floating-point"):
        guided_backprop(model, torch.zeros(2, 6, dtype=torch.long), 0)
    with pytest.raises(ValueError, match="pass target"):
        guided_backprop(model, x)
    with pytest.raises(ValueError, match="target out of range"):
        guided_backprop(model, x, 9)
    with pytest.raises(ValueError, match=r"length 2\)"):
        guided_backprop(model, x, torch.tensor([0, 1, 2]))


def test_training_mode_warns_and_is_not_changed():
    model = models.mlp().train()
    with pytest.warns(UserWarning, match="training mode"):
        guided_backprop(model, _randn(2, 6), 0)
    assert model.training
