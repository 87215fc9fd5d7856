"""Bad input raises a TypeError/ValueError that names the argument; training mode warns."""

import pytest
import torch
from torch import nn

import _models as models
from conftest import METHODS
from helpers import attribution as A

DTYPE = torch.float64


def _x(n=3, d=6):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(0), dtype=DTYPE)


# Every method that takes (model, x, target) with the common contract, from the
# one registry (tests/conftest.py); Grad-CAM and Shapley values have tests of their own.
CALLS = {name: m.call for name, m in METHODS.items() if m.model != "image" and m.takes_target}
WITH_BASELINE = [name for name in CALLS if "baseline" in METHODS[name].options]
WITH_BATCH_SIZE = [name for name in CALLS if "batch_size" in METHODS[name].options]
WITH_SAMPLES = [name for name in CALLS if "samples" in METHODS[name].options]
WITH_GENERATOR = [name for name in CALLS if "generator" in METHODS[name].options]


@pytest.mark.parametrize("name", CALLS)
def test_x_must_be_a_floating_tensor(name):
    model = models.mlp()
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        CALLS[name](model, _x().tolist(), 0)
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        CALLS[name](model, torch.ones(3, 6, dtype=torch.long), 0)
    with pytest.raises(ValueError, match="x must have a batch dimension"):
        CALLS[name](model, torch.zeros(0, 6, dtype=DTYPE), 0)


@pytest.mark.parametrize("name", CALLS)
def test_bad_targets(name):
    model, x = models.mlp(), _x()  # 4 outputs per example, 3 examples
    with pytest.raises(ValueError, match="target out of range"):
        CALLS[name](model, x, 4)
    with pytest.raises(ValueError, match="target out of range"):
        CALLS[name](model, x, -1)
    with pytest.raises(ValueError, match="target out of range"):
        CALLS[name](model, x, torch.tensor([0, 1, 7]))
    with pytest.raises(ValueError, match="target must be a 1-D tensor.*length 3"):
        CALLS[name](model, x, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="target must be an integer tensor"):
        CALLS[name](model, x, torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="target must be None, an int"):
        CALLS[name](model, x, 1.0)
    with pytest.raises(TypeError, match="target must be None, an int"):
        CALLS[name](model, x, True)
    with pytest.raises(ValueError, match=r"model returns 4 outputs per example; pass target="):
        CALLS[name](model, x, None)


def test_gradcam_bad_target_and_missing_target():
    model, x = models.cnn(), torch.zeros(2, 1, 8, 8, dtype=DTYPE)
    with pytest.raises(ValueError, match="target out of range"):
        A.gradcam(model, model[3], x, 5)
    with pytest.raises(ValueError, match="model returns 5 outputs per example; pass target="):
        A.gradcam(model, model[3], x)


@pytest.mark.parametrize("name", WITH_BASELINE)
def test_baseline_must_broadcast_to_x(name):
    model, x = models.mlp(), _x()
    with pytest.raises(ValueError, match=r"baseline of shape \(4,\) does not broadcast to x of shape \(3, 6\)"):
        CALLS[name](model, x, 0, baseline=torch.zeros(4, dtype=DTYPE))
    with pytest.raises(TypeError, match="baseline must be None, a number or a tensor"):
        CALLS[name](model, x, 0, baseline="zeros")


@pytest.mark.parametrize("name", WITH_SAMPLES)
def test_samples(name):
    model, x = models.mlp(), _x()
    with pytest.raises(ValueError, match="samples must be an int >= 1, got 0"):
        CALLS[name](model, x, 0, samples=0)
    with pytest.raises(TypeError, match="samples must be an int >= 1, got float 2.0"):
        CALLS[name](model, x, 0, samples=2.0)


@pytest.mark.parametrize("name", WITH_GENERATOR)
def test_generator(name):
    model, x = models.mlp(), _x()
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        CALLS[name](model, x, 0, generator=0)


@pytest.mark.parametrize("name", WITH_BATCH_SIZE)
def test_batch_size(name):
    model, x = models.mlp(), _x()
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        CALLS[name](model, x, 0, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int >= 1"):
        CALLS[name](model, x, 0, batch_size=2.0)


def test_steps_and_rule():
    model, x = models.mlp(), _x()
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        A.integrated_gradients(model, x, 0, steps=0)
    with pytest.raises(TypeError, match="steps must be an int >= 1"):
        A.integrated_gradients(model, x, 0, steps=10.0)
    with pytest.raises(ValueError, match="steps must be >= 2 for rule='trapezoid'"):
        A.integrated_gradients(model, x, 0, steps=1, rule="trapezoid")
    valid = "'left', 'right', 'midpoint', 'trapezoid', 'gausslegendre'"
    with pytest.raises(ValueError, match=f"rule must be one of {valid}; got 'simpson'"):
        A.integrated_gradients(model, x, 0, rule="simpson")


def test_path_gradients_alphas():
    model, x = models.mlp(), _x()
    with pytest.raises(ValueError, match="alphas must be a non-empty 1-D"):
        A.path_gradients(model, x, 0, alphas=[])
    with pytest.raises(ValueError, match="alphas must be a non-empty 1-D"):
        A.path_gradients(model, x, 0, alphas=[[0.1, 0.2]])
    with pytest.raises(TypeError, match="alphas must be a 1-D sequence of numbers"):
        A.path_gradients(model, x, 0, alphas="0.5")


def test_smoothgrad_arguments():
    model, x = models.mlp(), _x()
    with pytest.raises(ValueError, match="samples must be an int >= 1"):
        A.smoothgrad(model, x, 0, samples=0)
    with pytest.raises(TypeError, match="samples must be an int >= 1"):
        A.smoothgrad(model, x, 0, samples="10")
    with pytest.raises(ValueError, match="noise_level must be a number >= 0, got -0.1"):
        A.smoothgrad(model, x, 0, noise_level=-0.1)
    with pytest.raises(TypeError, match="noise_level must be a number"):
        A.smoothgrad(model, x, 0, noise_level="high")
    with pytest.raises(ValueError, match="variant must be one of 'mean', 'squared', 'variance'; got 'vargrad'"):
        A.smoothgrad(model, x, 0, variant="vargrad")
    with pytest.raises(TypeError, match="method must be a function"):
        A.smoothgrad(model, x, 0, method="gradient")
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        A.smoothgrad(model, x, 0, generator=0)


def test_expected_gradients_arguments():
    model, x = models.mlp(), _x()
    with pytest.raises(ValueError, match=r"baselines must have shape \(B, 6\)"):
        A.expected_gradients(model, x, 0, baselines=torch.zeros(4, 5, dtype=DTYPE))
    with pytest.raises(TypeError, match="baselines must be a torch.Tensor"):
        A.expected_gradients(model, x, 0, baselines=[[0.0] * 6])
    with pytest.raises(ValueError, match="samples must be an int >= 1"):
        A.expected_gradients(model, x, 0, baselines=torch.zeros(4, 6, dtype=DTYPE), samples=0)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        A.expected_gradients(model, x, 0, baselines=torch.zeros(4, 6, dtype=DTYPE), generator=1)


def test_lrp_and_deeplift_only_support_linear_relu_flatten():
    conv_net = models.cnn()
    for method in (A.lrp_epsilon, A.deeplift_rescale):
        with pytest.raises(TypeError, match=r"model\[0\] is an unsupported layer: Conv2d"):
            method(conv_net, torch.zeros(1, 1, 8, 8, dtype=DTYPE), 0)
        with pytest.raises(TypeError, match="supports only nn.Sequential"):
            method(models.minimum, torch.zeros(1, 2, dtype=DTYPE))
        with pytest.raises(TypeError, match=r"model\[1\] is an unsupported layer: Tanh"):
            method(models.smooth_mlp(), torch.zeros(1, 4, dtype=DTYPE))
    with pytest.raises(ValueError, match="epsilon must be a number >= 0"):
        A.lrp_epsilon(models.mlp(), _x(), 0, epsilon=-1.0)
    with pytest.raises(TypeError, match="epsilon must be a number >= 0"):
        A.lrp_epsilon(models.mlp(), _x(), 0, epsilon="small")


def test_gradcam_arguments():
    model, x = models.cnn(), torch.zeros(2, 1, 8, 8, dtype=DTYPE)
    with pytest.raises(TypeError, match="layer must be an nn.Module"):
        A.gradcam(model, "conv2", x, 0)
    with pytest.raises(ValueError, match="layer must be a submodule of model"):
        A.gradcam(model, nn.Conv2d(4, 6, 3), x, 0)
    with pytest.raises(ValueError, match=r"layer output must be a tensor of shape \(N, K, h, w\)"):
        A.gradcam(model, model[6], x, 0)  # the final Linear layer
    mlp = models.mlp()
    with pytest.raises(ValueError, match="upsample=True needs x of shape"):
        A.gradcam(mlp, mlp[0], _x(), 0, upsample=True)


def test_shapley_arguments():
    with pytest.raises(ValueError, match="between 1 and 16 features"):
        A.shapley_values(lambda z: z.sum(1), torch.zeros(17), torch.zeros(17))
    with pytest.raises(ValueError, match=r"baseline of shape \(3,\) does not broadcast"):
        A.shapley_values(lambda z: z.sum(1), torch.zeros(4), torch.zeros(3))
    with pytest.raises(ValueError, match=r"x must have shape \(d,\) or \(N, d\)"):
        A.shapley_values(lambda z: z.sum(1), torch.zeros(2, 2, 2), 0.0)
    with pytest.raises(ValueError, match=r"f must map a batch of shape \(M, 3\) to shape \(M,\)"):
        A.shapley_values(lambda z: z, torch.zeros(3), 0.0)
    with pytest.raises(TypeError, match="f must be callable"):
        A.shapley_values("min", torch.zeros(3), 0.0)


def test_model_must_be_callable_and_return_scores_per_example():
    x = _x()
    with pytest.raises(TypeError, match="model must be callable"):
        A.gradient(None, x)
    with pytest.raises(TypeError, match="model must return a tensor"):
        A.gradient(lambda z: z.sum().item(), x)
    with pytest.raises(ValueError, match=r"model must map a batch of 3 inputs to shape \(3,\) or \(3, C\)"):
        A.gradient(lambda z: z.sum(), x)
    with pytest.raises(ValueError, match="model output does not depend on x through autograd"):
        A.gradient(lambda z: z.detach().sum(1), x)


TRAINING_CALLS = dict(
    CALLS,
    gradcam=lambda m, x, t: A.gradcam(m, m[0], x.reshape(3, 1, 2, 3), t),
    shapley_values=None,  # f, not model: handled in the test
)
assert set(TRAINING_CALLS) == set(METHODS)


@pytest.mark.parametrize("name", TRAINING_CALLS)
def test_training_mode_warns_and_is_left_alone(name):
    model, x = models.mlp().train(), _x()
    if name == "gradcam":
        model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Flatten(), nn.Linear(12, 4)).to(DTYPE).train()
    if name == "shapley_values":
        model = models.smooth_mlp().train()  # f: (M, 4) -> (M, 1)
        with pytest.warns(UserWarning, match="f is in training mode"):
            A.shapley_values(model, x[0, :4], 0.0)
        assert model.training
        return
    with pytest.warns(UserWarning, match="model is in training mode"):
        TRAINING_CALLS[name](model, x, 1)
    assert model.training and all(m.training for m in model.modules())
