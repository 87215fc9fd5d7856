"""helpers.attribution agrees with Captum, with finite differences and with its own formulas."""

import os
import warnings

import pytest
import torch
import torch.nn.functional as F
from captum.attr import (
    DeepLift,
    InputXGradient,
    IntegratedGradients,
    LayerGradCam,
    LRP,
    NoiseTunnel,
    Saliency,
)

import _models as models
from conftest import METHODS, example
from helpers import attribution as A

DTYPE = torch.float64
TOL = dict(rtol=0, atol=1e-6)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


# Models with a batch of inputs and the two kinds of target (int, one per example).
CASES = {
    "linear": (models.linear, lambda: _randn(4, 5), 2, torch.tensor([0, 2, 1, 2])),
    "mlp": (models.mlp, lambda: _randn(4, 6), 3, torch.tensor([3, 0, 1, 2])),
    "cnn": (models.cnn, lambda: _randn(3, 1, 8, 8), 4, torch.tensor([4, 0, 2])),
    # In-place ReLUs, as torchvision builds VGG and ResNet: stored activations and
    # hooked outputs must not be overwritten by them.
    "mlp_inplace": (lambda: models.mlp(inplace=True), lambda: _randn(4, 6), 3, torch.tensor([3, 0, 1, 2])),
    "cnn_inplace": (lambda: models.cnn(inplace=True), lambda: _randn(3, 1, 8, 8), 4, torch.tensor([4, 0, 2])),
}
# What lrp_epsilon / deeplift_rescale support (and Captum's LRP)
SEQUENTIAL_CASES = ["linear", "mlp", "mlp_inplace"]


def _case(name, target_kind):
    build, make_x, int_target, tensor_target = CASES[name]
    return build(), make_x(), int_target if target_kind == "int" else tensor_target


def _captum(attribution_class, model, x, **kwargs):
    # Captum warns (UserWarning) that it sets requires_grad on the inputs and
    # hooks non-linear layers: notes about its own internals, ignored here only.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="captum")
        return attribution_class(model).attribute(x.clone(), **kwargs).detach()


TARGET_KINDS = ["int", "tensor"]


# --- Captum agreement ------------------------------------------------------


@pytest.mark.parametrize("target_kind", TARGET_KINDS)
@pytest.mark.parametrize("name", CASES)
def test_gradient_matches_captum_saliency(name, target_kind):
    model, x, target = _case(name, target_kind)
    theirs = _captum(Saliency, model, x, target=target, abs=False)
    torch.testing.assert_close(A.gradient(model, x, target), theirs, **TOL)
    torch.testing.assert_close(
        A.gradient(model, x, target, absolute=True), _captum(Saliency, model, x, target=target, abs=True), **TOL
    )


@pytest.mark.parametrize("target_kind", TARGET_KINDS)
@pytest.mark.parametrize("name", CASES)
def test_input_x_gradient_matches_captum(name, target_kind):
    model, x, target = _case(name, target_kind)
    theirs = _captum(InputXGradient, model, x, target=target)
    torch.testing.assert_close(A.input_x_gradient(model, x, target), theirs, **TOL)


CAPTUM_RULES = {
    "left": "riemann_left",
    "right": "riemann_right",
    "midpoint": "riemann_middle",
    "gausslegendre": "gausslegendre",
}


@pytest.mark.parametrize("rule", CAPTUM_RULES)
@pytest.mark.parametrize("target_kind", TARGET_KINDS)
@pytest.mark.parametrize("name", CASES)
def test_integrated_gradients_matches_captum(name, target_kind, rule):
    model, x, target = _case(name, target_kind)
    baseline = 0.1 * _randn(*x.shape, seed=1)
    ours = A.integrated_gradients(model, x, target, baseline=baseline, steps=16, rule=rule, batch_size=7)
    theirs = _captum(
        IntegratedGradients, model, x, target=target, baselines=baseline, n_steps=16, method=CAPTUM_RULES[rule]
    )
    torch.testing.assert_close(ours, theirs, **TOL)


@pytest.mark.parametrize("name", CASES)
def test_trapezoid_rule_is_captums_rescaled(name):
    # Captum's "riemann_trapezoid" evaluates n points alpha = k/(n-1) but gives
    # them the weights 1/n (1/(2n) at the ends), which sum to (n-1)/n, not 1:
    # its integral of a constant is short by a factor (n-1)/n. Our weights are
    # 1/(n-1) (1/(2(n-1)) at the ends), so ours = Captum's * n/(n-1) exactly.
    model, x, target = _case(name, "tensor")
    n = 9
    ours = A.integrated_gradients(model, x, target, steps=n, rule="trapezoid")
    theirs = _captum(IntegratedGradients, model, x, target=target, n_steps=n, method="riemann_trapezoid")
    torch.testing.assert_close(ours, theirs * n / (n - 1), **TOL)


@pytest.mark.parametrize("name", CASES)
def test_trapezoid_rule_matches_hand_formula(name):
    model, x, target = _case(name, "int")
    n = 6
    grads = [A.gradient(model, (k / (n - 1)) * x, target) for k in range(n)]
    by_hand = x * (sum(grads[1:-1]) + (grads[0] + grads[-1]) / 2) / (n - 1)
    torch.testing.assert_close(A.integrated_gradients(model, x, target, steps=n, rule="trapezoid"), by_hand, **TOL)


@pytest.mark.parametrize("target_kind", TARGET_KINDS)
@pytest.mark.parametrize("name", SEQUENTIAL_CASES)
def test_lrp_epsilon_matches_captum(name, target_kind):
    model, x, target = _case(name, target_kind)
    torch.testing.assert_close(A.lrp_epsilon(model, x, target), _captum(LRP, model, x, target=target), **TOL)


@pytest.mark.parametrize("target_kind", TARGET_KINDS)
@pytest.mark.parametrize("name", SEQUENTIAL_CASES)
def test_deeplift_matches_captum(name, target_kind):
    model, x, target = _case(name, target_kind)
    baseline = _randn(1, x.shape[1], seed=2)
    torch.testing.assert_close(
        A.deeplift_rescale(model, x, target, baseline=baseline),
        _captum(DeepLift, model, x, target=target, baselines=baseline),
        **TOL,
    )
    torch.testing.assert_close(A.deeplift_rescale(model, x, target), _captum(DeepLift, model, x, target=target), **TOL)


def test_deeplift_with_flatten_matches_captum():
    model, x = models.image_mlp(), _randn(4, 1, 4, 4)
    torch.testing.assert_close(A.deeplift_rescale(model, x, 1), _captum(DeepLift, model, x, target=1), **TOL)


@pytest.mark.parametrize("target_kind", TARGET_KINDS)
@pytest.mark.parametrize("name", ["cnn", "cnn_inplace"])
def test_gradcam_matches_captum(name, target_kind):
    # model[3] is a conv followed by a ReLU (in-place in cnn_inplace): the map is
    # the conv's, not the ReLU's, even when the ReLU overwrites the conv's output.
    model, x, target = _case(name, target_kind)
    ours = A.gradcam(model, model[3], x, target)
    theirs = _captum(lambda m: LayerGradCam(m, m[3]), model, x, target=target, relu_attributions=True)
    torch.testing.assert_close(ours, theirs, **TOL)


# --- SmoothGrad: our noise, pushed through Captum's NoiseTunnel ------------

NT_TYPES = {"mean": "smoothgrad", "squared": "smoothgrad_sq", "variance": "vargrad"}


def _our_noise(x, samples, noise_level, seed):
    """The noise smoothgrad draws: copy j is sigma_n * randn(x.shape), j = 0, 1, ... in order."""
    sigma = noise_level * (x.flatten(1).amax(1) - x.flatten(1).amin(1)).reshape(-1, *[1] * (x.ndim - 1))
    g = torch.Generator().manual_seed(seed)
    return sigma * torch.stack([torch.randn(x.shape, generator=g, dtype=x.dtype) for _ in range(samples)])


@pytest.mark.parametrize("variant", NT_TYPES)
@pytest.mark.parametrize("method, captum_method", [(A.gradient, Saliency), (A.input_x_gradient, InputXGradient)])
@pytest.mark.parametrize("name", CASES)
def test_smoothgrad_matches_noise_tunnel_given_the_same_noise(name, method, captum_method, variant, monkeypatch):
    model, x, target = _case(name, "tensor")
    samples, noise_level, seed = 6, 0.2, 7
    noise = _our_noise(x, samples, noise_level, seed)

    # NoiseTunnel stacks the noisy copies example-major (repeat_interleave);
    # ours are sample-major. Hand it our noise in its own layout.
    def same_noise(inputs, stdev, nt_samples):
        assert nt_samples == samples
        return inputs.repeat_interleave(samples, dim=0) + noise.transpose(0, 1).reshape(-1, *x.shape[1:])

    if not hasattr(NoiseTunnel, "_add_noise_to_input"):  # a private hook of Captum >= 0.8
        message = "this Captum version has no NoiseTunnel._add_noise_to_input to inject the noise"
        if os.environ.get("CI") == "true":
            pytest.fail(message + ": the SmoothGrad/NoiseTunnel agreement would go untested")
        pytest.skip(message)
    monkeypatch.setattr(NoiseTunnel, "_add_noise_to_input", staticmethod(same_noise))
    extra = {"abs": False} if captum_method is Saliency else {}
    theirs = _captum(
        lambda m: NoiseTunnel(captum_method(m)), model, x,
        nt_type=NT_TYPES[variant], nt_samples=samples, stdevs=1.0, target=target, **extra,
    )
    ours = A.smoothgrad(
        model, x, target, method=method, samples=samples, noise_level=noise_level,
        variant=variant, generator=torch.Generator().manual_seed(seed),
    )
    torch.testing.assert_close(ours, theirs, **TOL)


@pytest.mark.parametrize("variant", NT_TYPES)
def test_smoothgrad_variants_by_hand(variant):
    model, x, target = _case("mlp", "tensor")
    samples, seed = 5, 3
    noise = _our_noise(x, samples, 0.15, seed)
    attrs = torch.stack([A.gradient(model, x + eps, target) for eps in noise])
    by_hand = {
        "mean": attrs.sum(0) / samples,
        "squared": (attrs**2).sum(0) / samples,
        "variance": ((attrs - attrs.mean(0)) ** 2).sum(0) / samples,
    }[variant]
    generator = torch.Generator().manual_seed(seed)
    ours = A.smoothgrad(model, x, target, samples=samples, variant=variant, generator=generator)
    torch.testing.assert_close(ours, by_hand, **TOL)


def test_smoothgrad_reproducible_chunked_and_leaves_global_rng_alone():
    model, x, target = _case("cnn", "tensor")
    state = torch.get_rng_state()
    runs = [
        A.smoothgrad(model, x, target, samples=7, generator=torch.Generator().manual_seed(11), batch_size=batch_size)
        for batch_size in (None, 4, 100)
    ]
    assert torch.equal(torch.get_rng_state(), state)
    for run in runs[1:]:
        torch.testing.assert_close(run, runs[0], **TOL)
    other_seed = A.smoothgrad(model, x, target, samples=7, generator=torch.Generator().manual_seed(12))
    assert not torch.allclose(other_seed, runs[0])


def test_smoothgrad_noise_level_zero_is_exactly_the_method():
    model, x, target = _case("mlp", "int")
    grad = A.gradient(model, x, target)
    assert torch.equal(A.smoothgrad(model, x, target, noise_level=0), grad)
    assert torch.equal(A.smoothgrad(model, x, target, noise_level=0.0, variant="squared"), grad * grad)
    assert torch.equal(A.smoothgrad(model, x, target, noise_level=0, variant="variance"), torch.zeros_like(grad))
    ixg = A.input_x_gradient(model, x, target)
    assert torch.equal(A.smoothgrad(model, x, target, method=A.input_x_gradient, noise_level=0), ixg)


def test_smoothgrad_calls_method_in_batches_not_per_sample():
    model, x, target = _case("mlp", "tensor")
    calls = []

    def method(model, rows, target):
        calls.append(len(rows))
        return A.gradient(model, rows, target)

    A.smoothgrad(model, x, target, method=method, samples=10)
    assert calls == [10 * len(x)]
    calls.clear()
    A.smoothgrad(model, x, target, method=method, samples=10, batch_size=16)
    assert calls == [16, 16, 8]


# --- finite differences ----------------------------------------------------


def test_gradient_matches_central_finite_differences():
    model, x, h = models.smooth_mlp(), _randn(5, 4), 1e-5
    grad = A.gradient(model, x)
    eye = torch.eye(4, dtype=DTYPE)
    finite = torch.stack([(model(x + h * e) - model(x - h * e))[:, 0] / (2 * h) for e in eye], dim=1)
    torch.testing.assert_close(grad, finite, rtol=0, atol=1e-8)


# --- path gradients, expected gradients, Grad-CAM --------------------------


def test_path_gradients_shape_and_values():
    model, x, target = _case("cnn", "tensor")
    alphas = [0.0, 0.25, 1.0]
    path = A.path_gradients(model, x, target, baseline=0.5, alphas=alphas, batch_size=2)
    assert path.shape == (3, *x.shape)
    for k, alpha in enumerate(alphas):
        torch.testing.assert_close(path[k], A.gradient(model, 0.5 + alpha * (x - 0.5), target), **TOL)


@pytest.mark.parametrize("rule", ["left", "right", "midpoint"])
def test_mean_path_gradient_times_delta_is_integrated_gradients(rule):
    model, x, target = _case("mlp", "tensor")
    baseline = _randn(*x.shape, seed=5)
    alphas, _ = A.quadrature(12, rule)
    path = A.path_gradients(model, x, target, baseline=baseline, alphas=alphas)
    torch.testing.assert_close(
        (x - baseline) * path.mean(0),
        A.integrated_gradients(model, x, target, baseline=baseline, steps=12, rule=rule),
        **TOL,
    )


@pytest.mark.parametrize("rule", A.RULES)
def test_quadrature_weights_sum_to_one_and_nodes_lie_in_unit_interval(rule):
    for steps in (2, 3, 10):
        alphas, weights = A.quadrature(steps, rule)
        assert len(alphas) == len(weights) == steps
        assert abs(weights.sum().item() - 1) < 1e-12
        assert 0 <= alphas.min() and alphas.max() <= 1


def test_expected_gradients_matches_hand_formula_with_the_same_draws():
    model, x, target = _case("mlp", "tensor")
    baselines, samples = _randn(7, 6, seed=9), 5
    ours = A.expected_gradients(
        model, x, target, baselines=baselines, samples=samples, generator=torch.Generator().manual_seed(1), batch_size=3
    )
    g = torch.Generator().manual_seed(1)
    index = torch.randint(len(baselines), (samples, len(x)), generator=g)
    alphas = torch.rand((samples, len(x)), generator=g, dtype=DTYPE)
    by_hand = torch.zeros_like(x)
    for j in range(samples):
        ref = baselines[index[j]]
        by_hand += (x - ref) * A.gradient(model, ref + alphas[j, :, None] * (x - ref), target) / samples
    torch.testing.assert_close(ours, by_hand, **TOL)


def test_expected_gradients_reproducible_with_seed():
    model, x = models.smooth_mlp(), _randn(3, 4)
    baselines = _randn(10, 4, seed=4)
    def run(seed):
        generator = torch.Generator().manual_seed(seed)
        return A.expected_gradients(model, x, baselines=baselines, samples=20, generator=generator)

    assert torch.equal(run(0), run(0))
    assert not torch.allclose(run(0), run(1))


def test_expected_gradients_complete_in_expectation():
    model, x = models.smooth_mlp(), 2 * _randn(3, 4)
    baselines = _randn(30, 4, seed=4)
    generator = torch.Generator().manual_seed(0)
    attr = A.expected_gradients(model, x, baselines=baselines, samples=20000, generator=generator)
    with torch.no_grad():
        expected = model(x)[:, 0] - model(baselines)[:, 0].mean()
    # Monte Carlo error: std of a single draw's sum (~0.3 here) / sqrt(20000) ~ 0.002.
    torch.testing.assert_close(attr.sum(1), expected, rtol=0, atol=0.02)


def test_expected_gradients_on_linear_model_with_one_baseline_is_exact():
    model, x, target = _case("linear", "tensor")
    baseline = _randn(1, 5, seed=3)
    attr = A.expected_gradients(model, x, target, baselines=baseline, samples=3)
    torch.testing.assert_close(attr, model[0].weight[target] * (x - baseline), **TOL)


def test_gradcam_shapes_and_hooks_removed():
    model, x, target = _case("cnn", "tensor")
    layer = model[3]
    hooks = len(layer._forward_hooks)
    cam = A.gradcam(model, layer, x, target)
    assert cam.shape == (3, 1, 4, 4) and not cam.requires_grad and (cam >= 0).all()
    big = A.gradcam(model, layer, x, target, upsample=True)
    assert big.shape == (3, 1, 8, 8)
    torch.testing.assert_close(big, F.interpolate(cam, size=(8, 8), mode="bilinear", align_corners=False), **TOL)
    with pytest.raises(ValueError, match="target"):
        A.gradcam(model, layer, x, 99)  # fails inside the forward pass ...
    assert len(layer._forward_hooks) == hooks  # ... and the hook is still removed


def test_gradcam_of_a_conv_before_an_inplace_relu_is_not_the_relus():
    model, x, target = _case("cnn_inplace", "tensor")
    conv, relu = A.gradcam(model, model[3], x, target), A.gradcam(model, model[4], x, target)
    assert (conv - relu).abs().max() > 1e-3  # they differ wherever the conv output is negative
    same_weights_not_inplace = models.cnn()
    torch.testing.assert_close(conv, A.gradcam(same_weights_not_inplace, same_weights_not_inplace[3], x, target), **TOL)


def test_gradcam_by_hand():
    model, x, target = _case("cnn", "int")
    acts = model[:4](x).detach().requires_grad_(True)
    (dA,) = torch.autograd.grad(model[4:](acts)[:, target].sum(), acts)
    by_hand = torch.relu((dA.mean((2, 3), keepdim=True) * acts).sum(1, keepdim=True))
    torch.testing.assert_close(A.gradcam(model, model[3], x, target), by_hand, **TOL)


# --- the common contract: shape, dtype, detached, batch of targets ----------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", METHODS)
def test_result_has_x_shape_dtype_and_is_detached(name, dtype):
    method = METHODS[name]
    model, x, target = example(name)
    model, x = model.to(dtype), x.to(dtype).requires_grad_(True)
    attr = method.call(model, x, target) if method.takes_target else method.call(model, x, 1)
    expected = (2, *x.shape) if method.stacked else x.shape
    if name == "gradcam":  # the map is at the last conv's resolution: 4x4 after pooling
        expected = (len(x), 1, 4, 4)
    assert attr.shape == expected and attr.dtype == dtype and attr.device == x.device
    assert not attr.requires_grad


def test_target_none_accepts_n_and_n_by_1_outputs():
    model, x = models.smooth_mlp(), _randn(3, 4)
    squeezed = lambda z: model(z)[:, 0]
    torch.testing.assert_close(A.gradient(model, x), A.gradient(squeezed, x), **TOL)
    torch.testing.assert_close(A.gradient(model, x, 0), A.gradient(squeezed, x), **TOL)


def test_works_under_no_grad():
    model, x, target = _case("mlp", "int")
    expected = A.integrated_gradients(model, x, target, steps=5)
    with torch.no_grad():
        torch.testing.assert_close(A.integrated_gradients(model, x, target, steps=5), expected, **TOL)


@pytest.mark.gpu
@pytest.mark.parametrize("name", METHODS)
def test_cuda_matches_cpu(name):
    if not torch.cuda.is_available():
        pytest.fail("the gpu tests need a CUDA device (run them with: python -m pytest -m gpu)")
    method = METHODS[name]
    model, x, target = example(name)
    target = target if method.takes_target else 1
    cpu = method.call(model, x, target, **({"generator": torch.Generator().manual_seed(0)} if method.random else {}))
    gpu_target = target.cuda() if isinstance(target, torch.Tensor) else target
    kw = {"generator": torch.Generator("cuda").manual_seed(0)} if method.random else {}
    gpu = method.call(model.cuda(), x.cuda(), gpu_target, **kw)
    assert gpu.device.type == "cuda"
    if not method.random:  # the CUDA generator draws other numbers than the CPU one
        torch.testing.assert_close(gpu.cpu(), cpu, **TOL)
