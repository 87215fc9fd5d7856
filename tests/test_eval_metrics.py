"""ROAD (noisy linear imputation), infidelity, max-sensitivity and SSIM in helpers.metrics:
against scipy's sparse solver, Captum's metrics under the same perturbations, and hand cases."""

import copy
import warnings

import numpy as np
import pytest
import scipy.ndimage
import scipy.sparse
import scipy.sparse.linalg
import torch
from captum.metrics import infidelity as captum_infidelity
from captum.metrics import sensitivity_max as captum_sensitivity_max

import _models as models
from helpers.attribution import gradient, input_x_gradient
from helpers.metrics import (
    infidelity,
    noisy_linear_imputation,
    road_curve,
    sensitivity_max,
    ssim,
)

DTYPE = torch.float64


def _generator(seed):
    return torch.Generator().manual_seed(seed)


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=_generator(seed), dtype=DTYPE)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=_generator(seed), dtype=DTYPE)


# ------------------------------------------------------ noisy linear imputation

# The paper's neighbour weights (Rong et al. 2022, their NoisyLinearImputer).
PAPER_WEIGHTS = {
    (1, 1): 1 / 12, (0, 1): 1 / 6, (-1, 1): 1 / 12, (1, -1): 1 / 12,
    (0, -1): 1 / 6, (-1, -1): 1 / 12, (1, 0): 1 / 6, (-1, 0): 1 / 6,
}


def _imputation_by_scipy(image, removed):
    """The paper's sparse system for one (C, H, W) image, solved by scipy's spsolve."""
    height, width = removed.shape
    unknown = [(i, j) for i in range(height) for j in range(width) if removed[i, j]]
    index = {pixel: k for k, pixel in enumerate(unknown)}
    A = scipy.sparse.lil_matrix((len(unknown), len(unknown)))
    b = np.zeros((len(unknown), image.shape[0]))
    for k, (i, j) in enumerate(unknown):
        total = 0.0
        for (di, dj), weight in PAPER_WEIGHTS.items():
            ii, jj = i + di, j + dj
            if 0 <= ii < height and 0 <= jj < width:
                total += weight
                if removed[ii, jj]:
                    A[k, index[(ii, jj)]] = weight
                else:
                    b[k] -= weight * image[:, ii, jj]
        A[k, k] = -total
    solution = scipy.sparse.linalg.spsolve(scipy.sparse.csc_matrix(A), b).reshape(len(unknown), -1)
    filled = image.copy()
    for k, (i, j) in enumerate(unknown):
        filled[:, i, j] = solution[k]
    return filled


@pytest.mark.parametrize("share", [0.1, 0.5, 0.95])
def test_imputation_matches_the_papers_sparse_system(share):
    x = _rand(3, 2, 7, 9, seed=1)
    removed = torch.rand(3, 7, 9, generator=_generator(2)) < share
    removed[:, 0, 0] = False  # keep at least one pixel
    ours = noisy_linear_imputation(x, removed, noise_std=0.0, tolerance=1e-12)
    for n in range(3):
        expected = _imputation_by_scipy(x[n].numpy(), removed[n].numpy())
        np.testing.assert_allclose(ours[n].numpy(), expected, rtol=0, atol=1e-9)


def test_imputation_of_a_single_pixel_is_the_weighted_mean_of_its_neighbours():
    x = _rand(1, 1, 5, 5, seed=3)
    removed = torch.zeros(1, 5, 5, dtype=torch.bool)
    removed[0, 2, 2] = True
    patch = x[0, 0, 1:4, 1:4]
    weights = torch.tensor([[1, 2, 1], [2, 0, 2], [1, 2, 1]], dtype=DTYPE) / 12
    out = noisy_linear_imputation(x, removed, noise_std=0.0, tolerance=1e-12)
    torch.testing.assert_close(out[0, 0, 2, 2], (weights * patch).sum(), rtol=0, atol=1e-12)
    # A corner pixel averages its three in-image neighbours: weights 1/6, 1/6, 1/12.
    removed = torch.zeros(1, 5, 5, dtype=torch.bool)
    removed[0, 0, 0] = True
    expected = (x[0, 0, 0, 1] / 6 + x[0, 0, 1, 0] / 6 + x[0, 0, 1, 1] / 12) / (5 / 12)
    out = noisy_linear_imputation(x, removed, noise_std=0.0, tolerance=1e-12)
    torch.testing.assert_close(out[0, 0, 0, 0], expected, rtol=0, atol=1e-12)


def test_imputation_keeps_kept_pixels_reproduces_constants_and_leaves_x_alone():
    x = torch.full((2, 3, 6, 6), 0.7, dtype=DTYPE)
    x_before = x.clone()
    removed = torch.rand(2, 1, 6, 6, generator=_generator(4)) < 0.6
    removed[..., 3, 3] = False
    out = noisy_linear_imputation(x, removed, noise_std=0.0)
    torch.testing.assert_close(out, x, rtol=0, atol=1e-6)  # a constant image stays constant
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)
    y = _rand(2, 3, 6, 6, seed=5)
    out = noisy_linear_imputation(y, removed, noise_std=0.1, generator=_generator(6))
    kept = ~removed.expand_as(y)
    torch.testing.assert_close(out[kept], y[kept], rtol=0, atol=0)


def test_imputation_noise_is_seeded_only_on_removed_pixels_and_has_the_asked_spread():
    x = torch.zeros(4, 1, 16, 16, dtype=DTYPE)
    removed = torch.rand(4, 16, 16, generator=_generator(7)) < 0.5
    removed[:, 0, 0] = False
    a = noisy_linear_imputation(x, removed, noise_std=0.5, generator=_generator(8))
    b = noisy_linear_imputation(x, removed, noise_std=0.5, generator=_generator(8))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    noise = 0.5 * torch.randn(x.shape, generator=_generator(8), dtype=DTYPE)
    mask = removed[:, None]
    torch.testing.assert_close(a, torch.where(mask, noise, 0.0), rtol=0, atol=1e-12)
    assert 0.45 < a[mask].std().item() < 0.55


def test_imputation_float32_and_bad_arguments():
    x = torch.rand(2, 1, 8, 8, generator=_generator(9))
    removed = torch.rand(2, 8, 8, generator=_generator(10)) < 0.5
    removed[:, 0, 0] = False
    out = noisy_linear_imputation(x, removed, noise_std=0.0)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), noisy_linear_imputation(x.double(), removed, noise_std=0.0))
    with pytest.raises(ValueError, match=r"x must be a batch of images \(N, C, H, W\)"):
        noisy_linear_imputation(x[:, 0], removed)
    with pytest.raises(TypeError, match="mask must be a boolean tensor"):
        noisy_linear_imputation(x, removed.float())
    with pytest.raises(ValueError, match="removed must have shape"):
        noisy_linear_imputation(x, removed[:, :4])
    with pytest.raises(ValueError, match="at least one pixel"):
        noisy_linear_imputation(x, torch.ones(2, 8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="noise_std must be a number >= 0"):
        noisy_linear_imputation(x, removed, noise_std=-1.0)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        noisy_linear_imputation(x, removed, generator=0)
    with pytest.raises(ValueError, match="did not converge in max_iterations=1"):
        noisy_linear_imputation(x, removed, noise_std=0.0, max_iterations=1, tolerance=1e-12)


# ------------------------------------------------------------------------ ROAD


class _PixelValue(torch.nn.Module):
    """S = the value of one pixel (row 2, column 3) of a (N, 1, 6, 6) image."""

    def forward(self, x):
        return x[:, 0, 2, 3]


def test_road_removes_the_most_relevant_pixel_first_for_morf_and_last_for_lerf():
    x = torch.zeros(1, 1, 6, 6, dtype=DTYPE)
    x[0, 0, 2, 3] = 1.0
    attributions = torch.linspace(0, 1, 36, dtype=DTYPE).reshape(1, 1, 6, 6)
    attributions[0, 0, 2, 3] = 2.0  # the one pixel the model reads is ranked first
    model = _PixelValue().eval()
    fractions, morf = road_curve(model, x, attributions, order="morf", steps=4, noise_std=0.0)
    torch.testing.assert_close(fractions, torch.tensor([0.0, 0.25, 0.5, 0.75], dtype=DTYPE))
    # Removed and imputed from neighbours that are all 0: the score drops at once.
    torch.testing.assert_close(morf, torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=DTYPE), rtol=0, atol=1e-6)
    _, lerf = road_curve(model, x, attributions, order="lerf", steps=4, noise_std=0.0)
    torch.testing.assert_close(lerf, torch.tensor([[1.0, 1.0, 1.0, 1.0]], dtype=DTYPE), rtol=0, atol=0)


def test_road_scores_are_those_of_the_imputed_images_in_one_batch():
    model = models.cnn()
    x = _rand(3, 1, 8, 8, seed=11)
    attributions = _randn(3, 1, 8, 8, seed=12)
    target = torch.tensor([0, 3, 1])
    steps = 5
    _, scores = road_curve(model, x, attributions, target, steps=steps, noise_std=0.05, generator=_generator(13))
    # By hand: rank pixels, remove the top k, impute (the noise is drawn in step-major order).
    order = torch.sort(attributions.flatten(1), dim=1, descending=True, stable=True).indices
    removed = torch.zeros(steps, 3, 64, dtype=torch.bool)
    for j in range(steps):
        k = j * 64 // steps
        for n in range(3):
            removed[j, n, order[n, :k]] = True
    imputed = noisy_linear_imputation(
        x.repeat(steps, 1, 1, 1), removed.reshape(-1, 8, 8), noise_std=0.05, generator=_generator(13)
    )
    with torch.no_grad():
        expected = model(imputed).gather(1, target.repeat(steps)[:, None])[:, 0].reshape(steps, 3).T
    torch.testing.assert_close(scores, expected)
    with torch.no_grad():
        torch.testing.assert_close(scores[:, 0], model(x).gather(1, target[:, None])[:, 0])


def test_road_leaves_inputs_alone_and_checks_arguments():
    model = models.cnn()
    x = _rand(2, 1, 8, 8, seed=14)
    attributions = _randn(2, 1, 8, 8, seed=15)
    before = (x.clone(), attributions.clone(), copy.deepcopy(model.state_dict()))
    road_curve(model, x, attributions, 1, order="lerf", generator=_generator(0))
    torch.testing.assert_close(x, before[0], rtol=0, atol=0)
    torch.testing.assert_close(attributions, before[1], rtol=0, atol=0)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, before[2][name], rtol=0, atol=0)
    with pytest.raises(ValueError, match="order must be one of 'morf', 'lerf'; got 'most'"):
        road_curve(model, x, attributions, 1, order="most")
    with pytest.raises(TypeError, match="order must be one of"):
        road_curve(model, x, attributions, 1, order=1)
    with pytest.raises(ValueError, match="attributions must have the same shape"):
        road_curve(model, x, attributions[:, :, :4], 1)
    with pytest.raises(ValueError, match="steps must be an int >= 1, got 0"):
        road_curve(model, x, attributions, 1, steps=0)
    with pytest.raises(ValueError, match="target out of range"):
        road_curve(model, x, attributions, 9)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        road_curve(models.mlp(), _rand(2, 6), _rand(2, 6), 0)


# ------------------------------------------------------------------ infidelity


def _captum_perturbation(perturbations, x, scale_by_input):
    """Captum's perturb_func giving our perturbations I_k (it repeats each example K
    times, example-major: row n * K + k)."""
    samples = len(perturbations)
    rows = perturbations.transpose(0, 1).reshape(-1, *x.shape[1:])

    def perturb(inputs):
        assert inputs.shape == rows.shape
        change = inputs * rows if scale_by_input else rows
        return rows, inputs - change

    return perturb, samples


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_infidelity_matches_captum_with_gaussian_perturbations(name, normalize):
    model, x, target = {
        "mlp": (models.mlp(), _randn(4, 6, seed=16), torch.tensor([3, 0, 1, 2])),
        "cnn": (models.cnn(), _randn(3, 1, 8, 8, seed=17), torch.tensor([4, 0, 2])),
    }[name]
    attributions = gradient(model, x, target)
    perturbations = 0.1 * torch.randn((7, *x.shape), generator=_generator(18), dtype=DTYPE)
    ours = infidelity(model, x, attributions, target, perturbations=perturbations, normalize=normalize)
    perturb, samples = _captum_perturbation(perturbations, x, scale_by_input=False)
    theirs = captum_infidelity(
        model, perturb, x, attributions, target=target, n_perturb_samples=samples, normalize=normalize
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-12)
    assert (ours > 0).all()


def test_infidelity_scaled_by_input_matches_captum_multiply_by_inputs():
    model, x, target = models.cnn(), _randn(3, 1, 8, 8, seed=19), 2
    attributions = input_x_gradient(model, x, target)
    subsets = (torch.rand((6, *x.shape), generator=_generator(20)) < 0.3).to(DTYPE)  # remove ~30 %
    ours = infidelity(model, x, attributions, target, perturbations=subsets, scale_by_input=True)
    perturb, samples = _captum_perturbation(subsets, x, scale_by_input=True)
    theirs = captum_infidelity(model, perturb, x, attributions, target=target, n_perturb_samples=samples)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-12)


def test_infidelity_is_zero_for_exact_linear_explanations():
    model = models.linear(d_in=5, n_out=3)
    x = _randn(4, 5, seed=21)
    gaussian = 0.3 * torch.randn((10, *x.shape), generator=_generator(22), dtype=DTYPE)
    # The gradient of a linear model predicts any perturbation exactly ...
    zero = infidelity(model, x, gradient(model, x, 1), 1, perturbations=gaussian)
    torch.testing.assert_close(zero, torch.zeros(4, dtype=DTYPE), rtol=0, atol=1e-24)
    # ... and Input x Gradient predicts the removal of any subset of features.
    subsets = (torch.rand((10, *x.shape), generator=_generator(23)) < 0.5).to(DTYPE)
    zero = infidelity(model, x, input_x_gradient(model, x, 1), 1, perturbations=subsets, scale_by_input=True)
    torch.testing.assert_close(zero, torch.zeros(4, dtype=DTYPE), rtol=0, atol=1e-24)
    # Without scale_by_input the same map is wrong: the removals are x * I, not I.
    wrong = infidelity(model, x, input_x_gradient(model, x, 1), 1, perturbations=subsets)
    assert (wrong > 1e-3).all()


def test_infidelity_of_a_quadratic_by_hand():
    # S = x^2 in one dimension; map a = 2x (the gradient); I = +-c:
    # S(x) - S(x - I) = 2xI - I^2, so (I a - change)^2 = I^4 = c^4 for every sample.
    model = lambda z: (z**2).sum(1)  # noqa: E731
    x = torch.tensor([[0.5], [-2.0]], dtype=DTYPE)
    c = 0.3
    signs = torch.tensor([1.0, -1.0, -1.0, 1.0], dtype=DTYPE)
    perturbations = (c * signs).reshape(4, 1, 1).expand(4, 2, 1)
    result = infidelity(model, x, 2 * x, perturbations=perturbations)
    torch.testing.assert_close(result, torch.full((2,), c**4, dtype=DTYPE), rtol=1e-12, atol=0)
    # normalize: the best rescaling beta of a = 2x removes part of the error
    normalized = infidelity(model, x, 2 * x, perturbations=perturbations, normalize=True)
    assert (normalized <= result + 1e-15).all()


def test_infidelity_bad_arguments():
    model, x = models.mlp(), _randn(2, 6)
    a = torch.zeros_like(x)
    good = torch.zeros(3, 2, 6, dtype=DTYPE)
    with pytest.raises(ValueError, match=r"perturbations must have shape \(K, \*x.shape\)"):
        infidelity(model, x, a, 0, perturbations=torch.zeros(3, 6, dtype=DTYPE))
    with pytest.raises(TypeError, match="perturbations must be a torch.Tensor"):
        infidelity(model, x, a, 0, perturbations=[0.1])
    with pytest.raises(ValueError, match="attributions must have the same shape"):
        infidelity(model, x, a[:, :3], 0, perturbations=good)
    with pytest.raises(TypeError, match="scale_by_input must be a bool"):
        infidelity(model, x, a, 0, perturbations=good, scale_by_input=1)
    with pytest.raises(TypeError, match="normalize must be a bool"):
        infidelity(model, x, a, 0, perturbations=good, normalize="yes")
    with pytest.raises(ValueError, match="pass target"):
        infidelity(model, x, a, perturbations=good)
    with pytest.raises(TypeError, match="model must be callable"):
        infidelity(None, x, a, 0, perturbations=good)


# ------------------------------------------------------------ max-sensitivity


def _our_uniform_noise(x, samples, radius, seed):
    uniform = torch.rand((samples, *x.shape), generator=_generator(seed), dtype=x.dtype)
    return radius * (2 * uniform - 1)


@pytest.mark.parametrize("method_name", ["gradient", "smoothed"])
@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_sensitivity_max_matches_captum_with_the_same_noise(name, method_name):
    model, x, target = {
        "mlp": (models.mlp(), _randn(4, 6, seed=24), torch.tensor([3, 0, 1, 2])),
        "cnn": (models.cnn(), _randn(3, 1, 8, 8, seed=25), torch.tensor([4, 0, 2])),
    }[name]
    if method_name == "gradient":
        method = gradient
    else:  # the gradient averaged over 4 fixed offsets: one deterministic map per row
        offsets = 0.1 * torch.randn((4, 1, *x.shape[1:]), generator=_generator(99), dtype=DTYPE)

        def method(m, rows, t):
            return torch.stack([gradient(m, rows + offset, t) for offset in offsets]).mean(0)
    samples, radius = 6, 0.05
    ours = sensitivity_max(model, x, method, target, radius=radius, samples=samples, generator=_generator(26))
    noise = _our_uniform_noise(x, samples, radius, seed=26)
    rows = noise.transpose(0, 1).reshape(-1, *x.shape[1:])  # Captum's example-major order

    def perturb(inputs):
        return inputs + rows

    def explanation(inputs, target):  # Captum passes and expects tuples of tensors
        (rows,) = inputs if isinstance(inputs, tuple) else (inputs,)
        return (method(model, rows, target),)

    theirs = captum_sensitivity_max(explanation, x, perturb_func=perturb, n_perturb_samples=samples, target=target)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-12)


def test_sensitivity_max_by_hand():
    # S = |x|^2 / 2 has gradient x: the map moves exactly by the noise d_k.
    model = lambda z: 0.5 * (z**2).sum(1)  # noqa: E731
    x = _randn(3, 4, seed=27)
    noise = _our_uniform_noise(x, 5, 0.1, seed=28)
    absolute = sensitivity_max(model, x, gradient, radius=0.1, samples=5, relative=False, generator=_generator(28))
    torch.testing.assert_close(absolute, noise.norm(dim=2).amax(0))
    relative = sensitivity_max(model, x, gradient, radius=0.1, samples=5, generator=_generator(28))
    torch.testing.assert_close(relative, noise.norm(dim=2).amax(0) / x.norm(dim=1))
    # A linear model's gradient does not move at all; radius 0 never moves anything.
    linear = models.linear(d_in=4, n_out=2)
    torch.testing.assert_close(
        sensitivity_max(linear, x, gradient, 1, generator=_generator(1)), torch.zeros(3, dtype=DTYPE)
    )
    torch.testing.assert_close(
        sensitivity_max(model, x, gradient, radius=0.0, generator=_generator(1)), torch.zeros(3, dtype=DTYPE)
    )


def test_sensitivity_max_batches_are_the_same_and_inputs_stay():
    model, x = models.cnn(), _randn(3, 1, 8, 8, seed=29)
    x_before = x.clone()
    whole = sensitivity_max(model, x, gradient, 1, samples=4, generator=_generator(30))
    chunked = sensitivity_max(model, x, gradient, 1, samples=4, generator=_generator(30), batch_size=5)
    torch.testing.assert_close(whole, chunked)
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)


def test_sensitivity_max_bad_arguments():
    model, x = models.mlp(), _randn(2, 6)
    with pytest.raises(TypeError, match="method must be callable"):
        sensitivity_max(model, x, "gradient", 0)
    with pytest.raises(ValueError, match="radius must be a number >= 0"):
        sensitivity_max(model, x, gradient, 0, radius=-0.1)
    with pytest.raises(ValueError, match="samples must be an int >= 1"):
        sensitivity_max(model, x, gradient, 0, samples=0)
    with pytest.raises(TypeError, match="relative must be a bool"):
        sensitivity_max(model, x, gradient, 0, relative=None)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        sensitivity_max(model, x, gradient, 0, generator=1)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        sensitivity_max(model, x, gradient, 0, batch_size=0)


# ------------------------------------------------------------------------ SSIM


def _ssim_by_scipy(a, b, window, data_range):
    """scikit-image's algorithm (uniform window, sample covariance, crop the border)
    written with scipy.ndimage for one 2-D map."""
    filt = lambda v: scipy.ndimage.uniform_filter(v, size=window)  # noqa: E731
    n = window * window
    cov_norm = n / (n - 1)
    ux, uy = filt(a), filt(b)
    vx = cov_norm * (filt(a * a) - ux * ux)
    vy = cov_norm * (filt(b * b) - uy * uy)
    vxy = cov_norm * (filt(a * b) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    pad = (window - 1) // 2
    return s[pad:-pad, pad:-pad].mean()


@pytest.mark.parametrize("window", [3, 7])
def test_ssim_matches_the_scipy_formulation(window):
    a = _randn(3, 12, 10, seed=31)
    b = a + 0.7 * _randn(3, 12, 10, seed=32)
    ours = ssim(a, b, window=window, data_range=4.0)
    for n in range(3):
        expected = _ssim_by_scipy(a[n].numpy(), b[n].numpy(), window, 4.0)
        assert abs(ours[n].item() - expected) < 1e-12


def test_ssim_single_window_by_hand():
    # One 3x3 window: the global means, sample variances and covariance of the 9 values.
    a = torch.tensor([[[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]], dtype=DTYPE)
    b = torch.tensor([[[1.0, 1, 1], [2, 2, 2], [9, 9, 9]]], dtype=DTYPE)
    A, B = a.flatten().numpy(), b.flatten().numpy()
    L = 8.0  # max - min of both maps together
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    cov = np.cov(A, B)  # divides by 9 - 1
    expected = ((2 * A.mean() * B.mean() + c1) * (2 * cov[0, 1] + c2)) / (
        (A.mean() ** 2 + B.mean() ** 2 + c1) * (cov[0, 0] + cov[1, 1] + c2)
    )
    torch.testing.assert_close(ssim(a, b, window=3), torch.tensor([expected], dtype=DTYPE))


def test_ssim_simple_properties_and_channels():
    a = _randn(2, 3, 9, 9, seed=33)
    b = _randn(2, 3, 9, 9, seed=34)
    torch.testing.assert_close(ssim(a, a, window=3), torch.ones(2, dtype=DTYPE))
    torch.testing.assert_close(ssim(a, b, window=5), ssim(b, a, window=5))
    # Channels are averaged.
    per_channel = torch.stack([ssim(a[:, c], b[:, c], window=3, data_range=5.0) for c in range(3)], 1)
    torch.testing.assert_close(ssim(a, b, window=3, data_range=5.0), per_channel.mean(1))
    # Same brightness, opposite structure: close to -1.
    assert (ssim(5 + a, 5 - a, window=3) < -0.5).all()
    constant = torch.full((1, 5, 5), 2.0, dtype=DTYPE)
    torch.testing.assert_close(ssim(constant, constant, window=3), torch.ones(1, dtype=DTYPE))


def test_ssim_bad_arguments():
    a = torch.zeros(2, 8, 8)
    with pytest.raises(ValueError, match="same shape"):
        ssim(a, torch.zeros(2, 8, 7))
    with pytest.raises(ValueError, match="window must be odd and at most the map size"):
        ssim(a, a, window=4)
    with pytest.raises(ValueError, match="window must be odd and at most the map size"):
        ssim(a, a, window=9)
    with pytest.raises(TypeError, match="window must be an int"):
        ssim(a, a, window=3.0)
    with pytest.raises(ValueError, match="at least 3 dimension"):
        ssim(torch.zeros(2, 8), torch.zeros(2, 8))
    with pytest.raises(TypeError, match="a must be a torch.Tensor"):
        ssim(np.zeros((2, 8, 8)), a)
    with pytest.raises(ValueError, match="data_range must be a number >= 0"):
        ssim(a, a, window=3, data_range=-1.0)


# ------------------------------------------------------ relevance rank accuracy

from helpers.metrics import relevance_rank_accuracy  # noqa: E402


def test_relevance_rank_accuracy_by_hand():
    mask = torch.tensor([[True, False, True, False, False]])
    # K = 2: the two largest values are at 0 and 3; one of them is in the mask.
    a = torch.tensor([[5.0, 1.0, 0.5, 4.0, -3.0]])
    torch.testing.assert_close(relevance_rank_accuracy(a, mask), torch.tensor([0.5]))
    # Signed ranking: a large negative value inside the mask does not count.
    a = torch.tensor([[5.0, 1.0, -9.0, 4.0, 0.0]])
    torch.testing.assert_close(relevance_rank_accuracy(a, mask), torch.tensor([0.5]))
    # A perfect map, and an empty mask.
    torch.testing.assert_close(relevance_rank_accuracy(mask.float(), mask), torch.tensor([1.0]))
    empty = torch.zeros_like(mask)
    torch.testing.assert_close(relevance_rank_accuracy(a, empty), torch.tensor([0.0]))


def test_relevance_rank_accuracy_against_a_sorted_reference_with_channels():
    g = _generator(40)
    a = torch.randn(6, 3, 5, 5, generator=g)
    mask = torch.rand(6, 1, 5, 5, generator=g) < 0.3
    ours = relevance_rank_accuracy(a, mask)
    summed = a.sum(1).flatten(1)
    for n in range(6):
        k = int(mask[n].sum())
        top = set(torch.argsort(summed[n], descending=True)[:k].tolist())
        inside = set(torch.nonzero(mask[n].flatten()).flatten().tolist())
        assert ours[n].item() == pytest.approx(len(top & inside) / k if k else 0.0)


def test_relevance_rank_accuracy_of_random_maps_is_the_masks_share():
    g = _generator(41)
    mask = torch.zeros(4000, 1, 4, 5, dtype=torch.bool)
    mask[:, :, :2, :2] = True  # K = 4 of D = 20
    scores = relevance_rank_accuracy(torch.rand(4000, 1, 4, 5, generator=g), mask)
    assert abs(scores.mean().item() - 4 / 20) < 0.01


def test_relevance_rank_accuracy_bad_arguments():
    with pytest.raises(TypeError, match="mask must be a boolean tensor"):
        relevance_rank_accuracy(torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="do not fit the mask"):
        relevance_rank_accuracy(torch.zeros(2, 4), torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="attributions must be a torch.Tensor"):
        relevance_rank_accuracy([[0.0]], torch.zeros(1, 1, dtype=torch.bool))
