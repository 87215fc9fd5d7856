"""The book's reference implementations of gradient-based attribution methods.

Every function here reads like the formula in its docstring. They share one
contract, checked by ``helpers.contract`` (wrong type: TypeError; wrong value:
ValueError; ``generator=None``: torch's global generator), so that the chapters
can swap one method for another:

* ``model`` is any callable mapping a batch of shape (N, ...) to scores of shape
  (N,) or (N, C). An ``nn.Module`` in training mode triggers a ``UserWarning``
  (dropout and batch norm would corrupt the attribution); it is *not* switched
  to eval mode for you.
* ``target`` picks the score S that is explained: ``None`` (the model must give
  one value per example, shape (N,) or (N, 1)), an ``int`` (the same output
  for every example) or a 1-D integer tensor of length N (one per example).
* ``x`` is a floating-point tensor whose first dimension is the batch. The
  result has x's shape, dtype and device, and is detached. (``gradcam`` is the
  one exception: it returns a map at the resolution of a layer.)
* Each example's attribution is independent of the rest of the batch: the
  per-example scores are summed before the single backward pass, and example
  n's score depends on example n's input only.
* Interpolation steps and noise samples are built and evaluated in batched
  forward passes of at most ``batch_size`` rows (``None``: all at once); only
  one chunk's points exist at a time.
* The caller's model and tensors are left as they were: gradients are taken
  with ``torch.autograd.grad`` on a fresh copy of x, so no parameter's
  ``.grad`` is touched and x keeps its values and its ``requires_grad`` flag.
  Every layer reads copies that no later in-place operation (such as
  ``nn.ReLU(inplace=True)``, as torchvision builds its models) can overwrite.

Chapters: 02 gradient, 03 input x gradient, 04 epsilon-LRP and DeepLIFT
(Taylor view), 05 integrated gradients and Shapley values, 06 path gradients,
07 SmoothGrad, 08 expected gradients, Grad-CAM and the model-agnostic references
(occlusion, KernelSHAP).
"""

import itertools
import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .contract import (
    baseline_like,
    check_batch_size,
    check_choice,
    check_generator,
    check_int,
    check_model,
    check_number,
    check_target,
    check_x,
    target_scores,
)

__all__ = [
    "gradient",
    "input_x_gradient",
    "quadrature",
    "integrated_gradients",
    "path_gradients",
    "smoothgrad",
    "expected_gradients",
    "gradcam",
    "shapley_values",
    "lrp_epsilon",
    "deeplift_rescale",
    "guided_backprop",
    "occlusion",
    "kernel_shap",
]

RULES = ("left", "right", "midpoint", "trapezoid", "gausslegendre")
VARIANTS = ("mean", "squared", "variance")


def _chunks(n_rows, batch_size):
    """Slices of at most batch_size rows (all rows at once for None)."""
    step = n_rows if batch_size is None else batch_size
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def _take(target, rows):
    if not isinstance(target, torch.Tensor):
        return target
    if isinstance(rows, torch.Tensor):  # a CPU target with x on another device
        rows = rows.to(target.device)
    return target[rows]


def _gradients(model, points, target=None):
    """dS/dx at every row of `points`, in one forward and one backward pass."""
    # A new leaf sharing the values: the caller's tensor and the parameters'
    # .grad stay untouched. The model reads a copy of it, so that an in-place
    # first layer neither changes the caller's values nor hits a leaf.
    leaf = points.detach().requires_grad_(True)
    with torch.enable_grad():
        score = target_scores(model, leaf.clone(), target)
        if not score.requires_grad:
            raise ValueError(
                "model output does not depend on x through autograd "
                "(was it detached or computed under torch.no_grad()?)"
            )
        # Example n's score depends on row n only, so one backward pass of
        # the sum gives every row its own gradient.
        (grad,) = torch.autograd.grad(score.sum(), leaf, allow_unused=True)
    return torch.zeros_like(leaf) if grad is None else grad


def _randn(shape, generator, like):
    """Standard normal noise from `generator` (any device), moved to like's device."""
    device = like.device if generator is None else generator.device
    noise = torch.randn(shape, generator=generator, device=device, dtype=like.dtype)
    return noise.to(like.device)


def _per_row(values, x):
    """Reshape one value per row, shape (R,), so it broadcasts against rows like x's."""
    return values.reshape(-1, *[1] * (x.ndim - 1))


# ---------------------------------------------------------------------------
# Chapters 02-03: the gradient and input x gradient
# ---------------------------------------------------------------------------


def gradient(model, x, target=None, *, absolute=False):
    """Saliency: the gradient of the target score, ``dS/dx`` (or ``|dS/dx|``).

    Simonyan, Vedaldi & Zisserman 2014, "Deep Inside Convolutional Networks"
    (ICLR workshop). Used in chapters 00–11.

    With ``absolute=True`` the magnitude |dS/dx_i| is returned, as in the paper's
    saliency maps (which then take the maximum over colour channels); the
    default keeps the sign.
    """
    check_model(model)
    x = check_x(x)
    target = check_target(target, len(x))
    grad = _gradients(model, x, target)
    return grad.abs() if absolute else grad


def input_x_gradient(model, x, target=None):
    """Input x gradient: ``x * dS/dx`` (elementwise).

    Shrikumar et al. 2016, "Not Just a Black Box" (arXiv:1605.01713).
    Used in chapters 00 and 03–11. For a linear model S = w.x + b it is exactly each
    feature's contribution w_i x_i, and it sums to S(x) - S(0).
    """
    check_model(model)
    x = check_x(x)
    target = check_target(target, len(x))
    return x * _gradients(model, x, target)


# ---------------------------------------------------------------------------
# Chapters 05-06: integrated gradients and the path they integrate along
# ---------------------------------------------------------------------------


def quadrature(steps, rule="gausslegendre"):
    """Nodes alpha_k in [0, 1] and weights w_k with sum_k w_k f(alpha_k) ~ int_0^1 f.

    ``steps`` is the number of nodes (= gradient evaluations) for every rule:

    ============== =========================== =======================================
    rule           alpha_k, k = 0..steps-1     w_k
    ============== =========================== =======================================
    left           k / steps                   1 / steps
    right          (k + 1) / steps             1 / steps
    midpoint       (k + 1/2) / steps           1 / steps
    trapezoid      k / (steps - 1)             1/(steps-1); 1/(2(steps-1)) at both ends
    gausslegendre  (t_k + 1) / 2               v_k / 2   (t, v = numpy leggauss(steps))
    ============== =========================== =======================================

    All weights sum to one, so a constant integrand is integrated exactly.
    The trapezoid rule needs steps >= 2 (it evaluates both end points).
    Returns two float64 CPU tensors of length ``steps``. Chapter 05.
    """
    steps = check_int(steps, "steps")
    check_choice(rule, "rule", RULES)
    k = torch.arange(steps, dtype=torch.float64)
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        # leggauss integrates over [-1, 1]; map it to [0, 1].
        return torch.from_numpy((nodes + 1) / 2), torch.from_numpy(weights / 2)
    if rule == "trapezoid":
        if steps < 2:
            raise ValueError("steps must be >= 2 for rule='trapezoid' (it evaluates both end points)")
        weights = torch.full((steps,), 1 / (steps - 1), dtype=torch.float64)
        weights[[0, -1]] = 1 / (2 * (steps - 1))
        return k / (steps - 1), weights
    offset = {"left": 0.0, "right": 1.0, "midpoint": 0.5}[rule]
    return (k + offset) / steps, torch.full((steps,), 1 / steps, dtype=torch.float64)


def _path_chunks(model, x, target, baseline, alphas, batch_size):
    """Gradients at the path points x' + alpha_k (x - x'), chunk by chunk.

    The K x N points are numbered row r = k N + n (alpha-major); each chunk of at
    most batch_size rows is built only when it is evaluated, so memory stays near
    one chunk's worth. Yields (k, n, gradients) for the rows of each chunk.
    """
    n_examples = len(x)
    alphas = alphas.to(device=x.device, dtype=x.dtype)
    for rows in _chunks(len(alphas) * n_examples, batch_size):
        r = torch.arange(rows.start, rows.stop, device=x.device)
        k, n = r // n_examples, r % n_examples
        points = baseline[n] + _per_row(alphas[k], x) * (x[n] - baseline[n])
        yield k, n, _gradients(model, points, _take(target, n))


def path_gradients(model, x, target=None, *, baseline=None, alphas, batch_size=None):
    """Gradients along the straight path: ``dS/dx`` at ``x' + alpha (x - x')``.

    Returns a tensor of shape (len(alphas), *x.shape): row k holds the gradient
    at alpha_k for every example. This is the integrand of integrated gradients
    (divided by x - x'), which chapter 06 plots to show where it vanishes;
    ``(x - x') * sum_k w_k path_gradients(...)[k]`` is ``integrated_gradients``.
    ``alphas`` is any 1-D sequence of numbers (usually in [0, 1]).
    Used in chapters 04–06.
    """
    check_model(model)
    x = check_x(x)
    target = check_target(target, len(x))
    baseline = baseline_like(baseline, x)
    batch_size = check_batch_size(batch_size)
    try:
        alphas = torch.as_tensor(alphas, dtype=torch.float64).detach()
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"alphas must be a 1-D sequence of numbers, got {type(alphas).__name__}") from None
    if alphas.ndim != 1 or len(alphas) == 0 or not torch.isfinite(alphas).all():
        raise ValueError(
            f"alphas must be a non-empty 1-D sequence of finite numbers, got shape {tuple(alphas.shape)}"
        )
    grads = torch.empty((len(alphas), *x.shape), dtype=x.dtype, device=x.device)
    for k, n, chunk in _path_chunks(model, x, target, baseline, alphas, batch_size):
        grads[k, n] = chunk
    return grads


def integrated_gradients(
    model, x, target=None, *, baseline=None, steps=50, rule="gausslegendre", batch_size=None
):
    """Integrated gradients: ``(x - x') * int_0^1 dS/dx (x' + a (x - x')) da``.

    Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks"
    (ICML). Used in chapters 05, 06 and 08–11.

    The integral is replaced by the quadrature ``sum_k w_k dS/dx(x' + a_k (x - x'))``
    of ``quadrature(steps, rule)``: ``steps`` gradient evaluations for every rule
    (left, right, midpoint, trapezoid, gausslegendre). Completeness,
    ``sum_i IG_i = S(x) - S(x')``, holds up to the quadrature error.
    ``baseline`` x' is None (zeros), a number, or a tensor broadcastable to x.
    """
    check_model(model)
    x = check_x(x)
    target = check_target(target, len(x))
    baseline = baseline_like(baseline, x)
    batch_size = check_batch_size(batch_size)
    alphas, weights = quadrature(steps, rule)
    weights = weights.to(device=x.device, dtype=x.dtype)
    # sum_k w_k dS/dx(point_k), accumulated chunk by chunk (never all K points at once)
    weighted_sum = torch.zeros_like(x)
    for k, n, grads in _path_chunks(model, x, target, baseline, alphas, batch_size):
        weighted_sum.index_add_(0, n, _per_row(weights[k], x) * grads)
    return (x - baseline) * weighted_sum


# ---------------------------------------------------------------------------
# Chapter 07: SmoothGrad and its variants
# ---------------------------------------------------------------------------


def smoothgrad(
    model,
    x,
    target=None,
    *,
    method=gradient,
    samples=50,
    noise_level=0.15,
    variant="mean",
    generator=None,
    batch_size=None,
):
    """SmoothGrad: ``(1/n) sum_j method(x + eps_j)``, ``eps_j ~ N(0, sigma^2)``.

    Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise"
    (arXiv:1706.03825). Used in chapters 07–11.

    sigma = noise_level * (max(x_n) - min(x_n)), one sigma per example n (the
    paper recommends noise levels of 10-20%). Noisy copy j of the batch is
    ``x + sigma * torch.randn(x.shape, generator=generator)``, drawn for
    j = 0, 1, ..., samples - 1 in that order (global RNG when generator is None),
    so a seeded generator reproduces it exactly, whatever ``batch_size`` is.

    variant:
      * ``"mean"``:     (1/n) sum_j a_j                    (SmoothGrad)
      * ``"squared"``:  (1/n) sum_j a_j^2                  (SmoothGrad^2, Hooker et al. 2019, NeurIPS)
      * ``"variance"``: (1/n) sum_j (a_j - mean)^2         (VarGrad, Adebayo et al. 2018, ICLR workshop)

    ``method`` is any function ``method(model, x, target)`` of this module, e.g.
    ``input_x_gradient``, which gives (x + eps) * grad(x + eps); multiply the
    smoothed gradient by x for the other form. The noisy copies are made and
    evaluated in batched calls of ``method`` with at most ``batch_size`` rows
    each, so memory stays near one batch's worth.
    With noise_level 0 the result is exactly ``method(model, x, target)``.
    """
    check_model(model)
    x = check_x(x)
    target = check_target(target, len(x))
    if not callable(method):
        raise TypeError(
            f"method must be a function (model, x, target) -> attribution, got {type(method).__name__}"
        )
    samples = check_int(samples, "samples")
    check_number(noise_level, "noise_level", minimum=0)
    check_choice(variant, "variant", VARIANTS)
    generator = check_generator(generator)
    batch_size = check_batch_size(batch_size)

    if noise_level == 0:
        # Every noisy copy equals x: skip the sampling (and its rounding).
        attr = method(model, x, target)
        return {"mean": attr, "squared": attr * attr, "variance": torch.zeros_like(attr)}[variant]

    flat = x.reshape(len(x), -1)
    value_range = (flat.amax(1) - flat.amin(1)).reshape(-1, *[1] * (x.ndim - 1))
    sigma = noise_level * value_range  # one sigma per example

    # Noisy copy j of the batch is x + sigma * randn(x.shape), drawn in the order
    # j = 0, 1, ...; its rows are numbered r = j N + n. They are made only when
    # their chunk is evaluated, so memory holds one chunk's worth, not all samples.
    n_examples = len(x)
    pending, n_pending = [], 0  # noisy rows made but not evaluated yet, in order
    sums = sums_of_squares = None
    for rows in _chunks(samples * n_examples, batch_size):
        size = rows.stop - rows.start
        while n_pending < size:
            pending.append(x + sigma * _randn(x.shape, generator, x))
            n_pending += n_examples
        ready = torch.cat(pending)  # one copy per chunk
        noisy, rest = ready[:size], ready[size:]
        pending, n_pending = [rest], len(rest)
        n = torch.arange(rows.start, rows.stop, device=x.device) % n_examples
        attr = method(model, noisy, _take(target, n))
        if sums is None:
            sums = torch.zeros((n_examples, *attr.shape[1:]), dtype=attr.dtype, device=attr.device)
            sums_of_squares = None if variant == "mean" else torch.zeros_like(sums)
        sums.index_add_(0, n, attr)
        if sums_of_squares is not None:
            sums_of_squares.index_add_(0, n, attr * attr)
    if variant == "mean":
        return sums / samples
    if variant == "squared":
        return sums_of_squares / samples
    mean = sums / samples  # population variance, as in VarGrad: E[a^2] - E[a]^2
    return (sums_of_squares / samples - mean * mean).clamp_min(0)


# ---------------------------------------------------------------------------
# Chapter 08: expected gradients and Grad-CAM
# ---------------------------------------------------------------------------


def expected_gradients(model, x, target=None, *, baselines, samples=50, generator=None, batch_size=None):
    """Expected gradients: ``E_{x'~D, a~U(0,1)} [(x - x') * dS/dx (x' + a (x - x'))]``.

    Erion, Janizek, Sturmfels, Lundberg & Lee 2021, "Improving performance of
    deep learning models with axiomatic attribution priors and expected
    gradients" (Nature Machine Intelligence). It is the estimator of the ``shap``
    library's GradientExplainer and of Captum's ``GradientShap`` (without its
    optional input noise), which build on SHAP (Lundberg & Lee 2017, NeurIPS);
    the 2017 paper itself does not define it. Introduced in chapter 08.

    For each example, ``samples`` reference rows x'_j are drawn uniformly (with
    replacement) from ``baselines`` (shape (B, *x.shape[1:])) and a_j ~ U(0, 1);
    the estimate is ``(1/n) sum_j (x - x'_j) * dS/dx(x'_j + a_j (x - x'_j))``.
    Random draws, in this order: ``torch.randint(B, (samples, N))`` then
    ``torch.rand((samples, N))`` from ``generator`` (global RNG when None).
    Completeness holds in expectation: E[sum_i attr_i] = S(x) - mean_b S(x'_b).
    """
    check_model(model)
    x = check_x(x)
    target = check_target(target, len(x))
    baselines = check_x(baselines, "baselines")
    if baselines.shape[1:] != x.shape[1:]:
        raise ValueError(
            f"baselines must have shape (B, {', '.join(map(str, x.shape[1:]))}) like x's examples, "
            f"got {tuple(baselines.shape)}"
        )
    samples = check_int(samples, "samples")
    generator = check_generator(generator)
    batch_size = check_batch_size(batch_size)

    device = x.device if generator is None else generator.device
    index = torch.randint(len(baselines), (samples, len(x)), generator=generator, device=device)
    alphas = torch.rand((samples, len(x)), generator=generator, device=device, dtype=x.dtype)
    baselines = baselines.to(device=x.device, dtype=x.dtype)
    # Row r = j N + n pairs example n with its j-th reference and alpha; each
    # chunk of rows is built only when it is evaluated.
    index, alphas = index.to(x.device).reshape(-1), alphas.to(x.device).reshape(-1)
    total = torch.zeros_like(x)
    for rows in _chunks(len(index), batch_size):
        r = torch.arange(rows.start, rows.stop, device=x.device)
        n = r % len(x)
        reference = baselines[index[r]]
        points = reference + _per_row(alphas[r], x) * (x[n] - reference)
        total.index_add_(0, n, (x[n] - reference) * _gradients(model, points, _take(target, n)))
    return total / samples


def gradcam(model, layer, x, target=None, *, upsample=False):
    """Grad-CAM: ``ReLU(sum_k alpha_k A^k)`` with ``alpha_k = mean_{h,w} dS/dA^k``.

    Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks
    via Gradient-based Localization" (ICCV). Used in chapters 08, 10 and 11.

    ``layer`` is an nn.Module inside ``model`` whose output A has shape
    (N, K, h, w), typically the last convolution. This is the exception to
    "the result has x's shape": the map is returned at the layer's resolution,
    shape (N, 1, h, w); with ``upsample=True`` it is bilinearly interpolated to
    x's spatial size, shape (N, 1, H, W). The hook that captures A is always
    removed, even if the forward pass fails.
    """
    check_model(model)
    if not isinstance(layer, nn.Module):
        raise TypeError(f"layer must be an nn.Module inside model, got {type(layer).__name__}")
    if isinstance(model, nn.Module) and not any(m is layer for m in model.modules()):
        raise ValueError("layer must be a submodule of model")
    x = check_x(x)
    if upsample and x.ndim != 4:
        raise ValueError(f"upsample=True needs x of shape (N, C, H, W), got {tuple(x.shape)}")
    target = check_target(target, len(x))

    activations = []

    def keep_output(module, inputs, output):
        # Keep A and hand the rest of the model a copy: an in-place layer after
        # `layer` (nn.ReLU(inplace=True), as in torchvision) then changes the
        # copy, never the A whose gradient Grad-CAM needs.
        activations.append(output)
        return output.clone() if isinstance(output, torch.Tensor) else output

    handle = layer.register_forward_hook(keep_output)
    try:
        with torch.enable_grad():
            leaf = x.detach().clone().requires_grad_(True)
            score = target_scores(model, leaf.clone(), target)
    finally:
        handle.remove()
    if len(activations) != 1:
        raise ValueError(
            f"layer must run exactly once per forward pass of model, it ran {len(activations)} times"
        )
    A = activations[0]
    if not isinstance(A, torch.Tensor) or A.ndim != 4:
        shape = getattr(A, "shape", type(A))
        raise ValueError(f"layer output must be a tensor of shape (N, K, h, w), got {shape}")
    (dA,) = torch.autograd.grad(score.sum(), A, allow_unused=True)
    if dA is None:
        raise ValueError("the target score does not depend on the output of layer")
    alpha = dA.mean(dim=(2, 3), keepdim=True)  # one weight per channel k
    cam = F.relu((alpha * A).sum(dim=1, keepdim=True)).detach()
    if upsample:
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return cam


# ---------------------------------------------------------------------------
# Chapters 05 and 08: exact Shapley values
# ---------------------------------------------------------------------------


def shapley_values(f, x, baseline):
    """Exact Shapley values of the game v(S) = f(x_S, x'_rest), all 2^d coalitions.

    ``phi_i = sum_{S subset of D - {i}} |S|! (d - |S| - 1)! / d! [v(S u {i}) - v(S)]``
    where features in the coalition take their value from x and the others
    from ``baseline``. Shapley 1953 ("A value for n-person games"); as feature
    attributions, Lundberg & Lee 2017 (NeurIPS). Chapters 05 and 08.

    ``f`` maps a batch (M, d) to (M,). ``x`` has shape (d,) or (N, d);
    ``baseline`` is None (zeros), a number or a tensor broadcastable to x.
    All coalitions are evaluated in one batched call of f, so d is limited to
    16 (65536 coalitions). Efficiency: sum_i phi_i = f(x) - f(baseline).
    """
    check_model(f, "f")
    x = check_x(x)
    if x.ndim > 2:
        raise ValueError(f"x must have shape (d,) or (N, d), got {tuple(x.shape)}")
    baseline = baseline_like(baseline, x)
    single = x.ndim == 1
    xs, bs = (x[None], baseline[None]) if single else (x, baseline)
    n, d = xs.shape
    if not 1 <= d <= 16:
        raise ValueError(f"x must have between 1 and 16 features for exact Shapley values, got d={d}")

    ids = torch.arange(2**d, device=x.device)
    in_coalition = ((ids[:, None] >> torch.arange(d, device=x.device)) & 1) == 1  # bit i: i in S
    inputs = torch.where(in_coalition, xs[:, None], bs[:, None])  # (N, 2^d, d)
    with torch.no_grad():
        values = f(inputs.reshape(-1, d))
    if not isinstance(values, torch.Tensor) or values.numel() != n * 2**d:
        shape = getattr(values, "shape", type(values))
        raise ValueError(f"f must map a batch of shape (M, {d}) to shape (M,), got {shape}")
    values = values.reshape(n, 2**d).to(x.dtype)

    size = in_coalition.sum(1)
    weight = torch.tensor(
        [math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d) for s in range(d)],
        dtype=x.dtype,
        device=x.device,
    )
    phi = torch.empty_like(xs)
    for i in range(d):
        without_i = ids[~in_coalition[:, i]]  # the coalitions S not containing i
        with_i = without_i | (1 << i)  # S u {i}
        phi[:, i] = (weight[size[without_i]] * (values[:, with_i] - values[:, without_i])).sum(1)
    return phi[0] if single else phi


# ---------------------------------------------------------------------------
# Chapter 04: epsilon-LRP and DeepLIFT (Rescale) on Linear/ReLU networks
# ---------------------------------------------------------------------------

_PROPAGATION_LAYERS = (nn.Linear, nn.ReLU, nn.Flatten)


def _check_sequential(model, name):
    if not isinstance(model, nn.Sequential):
        raise TypeError(
            f"{name} supports only nn.Sequential models of nn.Linear, nn.ReLU and nn.Flatten, "
            f"got {type(model).__name__}"
        )
    for i, layer in enumerate(model):
        if not isinstance(layer, _PROPAGATION_LAYERS):
            raise TypeError(
                f"{name} supports only nn.Linear, nn.ReLU and nn.Flatten layers; "
                f"model[{i}] is an unsupported layer: {type(layer).__name__}"
            )
    return list(model)


def _activations(layers, x):
    """[x, layer_1(x), layer_2(layer_1(x)), ...]: every layer's input, and the output."""
    acts = [x]
    for layer in layers:
        # Each layer gets a copy: an in-place layer (nn.ReLU(inplace=True)) would
        # otherwise overwrite the stored activation it reads (or the caller's x).
        acts.append(layer(acts[-1].clone()))
    return acts


def _score_seed(output, target):
    """dS/d(output): the one-hot selector of the target score, output's shape."""
    leaf = output.detach().requires_grad_(True)
    with torch.enable_grad():
        (seed,) = torch.autograd.grad(target_scores(lambda z: z, leaf, target).sum(), leaf)
    return seed


def lrp_epsilon(model, x, target=None, *, epsilon=1e-9):
    """epsilon-LRP: relevance flows back by ``R_j = sum_k a_j w_jk / (z_k + eps sign(z_k)) R_k``.

    Bach et al. 2015, "On Pixel-Wise Explanations for Non-Linear Classifier
    Decisions by Layer-Wise Relevance Propagation" (PLoS ONE). Used in chapters 04 and 08.

    Only ``nn.Sequential`` models of ``nn.Linear``, ``nn.ReLU`` and ``nn.Flatten``
    are supported (anything else raises a TypeError naming the layer). The
    relevance at the output is the target score alone; z_k = sum_j a_j w_jk + b_k
    includes the bias, sign(0) counts as +1, and ReLU/Flatten pass relevance
    through unchanged.

    Ancona et al. 2018 (ICLR, Prop. 1) write epsilon-LRP as x times a modified
    gradient in which each nonlinearity's derivative f'(z) is replaced by
    f(z)/z. For ReLU, ReLU(z)/z = ReLU'(z) (z != 0), so as epsilon -> 0
    epsilon-LRP *equals input x gradient* on these networks -- with or without
    biases: a bias changes z, not the ratio. What biases break is conservation:
    they absorb relevance, so sum_i R_i != S(x) in general.
    """
    check_model(model)
    layers = _check_sequential(model, "lrp_epsilon")
    x = check_x(x)
    target = check_target(target, len(x))
    check_number(epsilon, "epsilon", minimum=0)
    with torch.no_grad():
        acts = _activations(layers, x)
        relevance = acts[-1] * _score_seed(acts[-1], target)  # R = S at the target, 0 elsewhere
        for layer, a, z in reversed(list(zip(layers, acts[:-1], acts[1:]))):
            if isinstance(layer, nn.Linear):
                denominator = z + epsilon * (2 * (z >= 0).to(z.dtype) - 1)  # sign(0) = +1
                # A unit with z = 0 (and epsilon = 0) passes no relevance.
                ratio = torch.where(denominator == 0, 0.0, relevance / denominator)
                relevance = a * (ratio @ layer.weight)
            else:  # ReLU and Flatten: relevance passes through, reshaped to the input
                relevance = relevance.reshape(a.shape)
    return relevance.detach()


def deeplift_rescale(model, x, target=None, *, baseline=None):
    """DeepLIFT with the Rescale rule: ``(x - x') * m``, m the DeepLIFT multipliers of S.

    Shrikumar, Greenside & Kundaje 2017, "Learning Important Features Through
    Propagating Activation Differences" (ICML). Used in chapters 04, 05 and 08.

    Multipliers are chained backwards like gradients, except that through a
    ReLU the derivative is replaced by the ratio of differences from the
    reference, ``(ReLU(z) - ReLU(z')) / (z - z')`` (falling back to the gradient
    where |z - z'| < 1e-10). Summation-to-delta holds exactly:
    ``sum_i attr_i = S(x) - S(x')``. Only ``nn.Sequential`` models of
    ``nn.Linear``, ``nn.ReLU`` and ``nn.Flatten`` are supported.

    With a zero baseline and *no biases* every reference activation is 0, the
    ratio becomes ReLU(z)/z = ReLU'(z), and DeepLIFT equals input x gradient
    (and epsilon-LRP, epsilon -> 0) (Ancona et al. 2018, ICLR). Biases make the
    reference activations nonzero and break this equality.
    """
    check_model(model)
    layers = _check_sequential(model, "deeplift_rescale")
    x = check_x(x)
    target = check_target(target, len(x))
    baseline = baseline_like(baseline, x)
    with torch.no_grad():
        acts, refs = _activations(layers, x), _activations(layers, baseline)
        multiplier = _score_seed(acts[-1], target)
        for i in reversed(range(len(layers))):
            layer, a = layers[i], acts[i]
            if isinstance(layer, nn.Linear):
                multiplier = multiplier @ layer.weight
            elif isinstance(layer, nn.ReLU):
                dz, dy = a - refs[i], acts[i + 1] - refs[i + 1]
                tiny = dz.abs() < 1e-10
                rescale = torch.where(tiny, (a > 0).to(a.dtype), dy / torch.where(tiny, 1.0, dz))
                multiplier = multiplier * rescale
            else:  # Flatten
                multiplier = multiplier.reshape(a.shape)
    return ((x - baseline) * multiplier).detach()


# ---------------------------------------------------------------------------
# Chapter 09: guided backpropagation
# ---------------------------------------------------------------------------


class _PositiveGradient(torch.autograd.Function):
    """Identity forward; backward passes only the positive part of the gradient."""

    @staticmethod
    def forward(ctx, y):
        return y.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(min=0)


def _guide_relu_output(module, inputs, output):
    # y = ReLU(z) has local derivative 1[z > 0] = 1[y > 0]; the guide in front of it
    # keeps only positive gradients, so the product is 1[z > 0] * max(g, 0). Acting on
    # the output (not the input) makes it work for nn.ReLU(inplace=True) too.
    return _PositiveGradient.apply(output)


def guided_backprop(model, x, target=None):
    """Guided backpropagation: the gradient with every ReLU's backward pass guided.

    Springenberg, Dosovitskiy, Brox & Riedmiller 2015, "Striving for Simplicity:
    The All Convolutional Net" (ICLR workshop). Used in chapters 08–10.

    Backpropagation through a ReLU y = max(z, 0) passes ``g_in = 1[z > 0] * g_out``;
    guided backpropagation passes only the positive part of the incoming gradient,

        g_in = 1[z > 0] * max(g_out, 0),

    at every ``nn.ReLU`` module, and is otherwise the ordinary chain rule. The result
    is the modified gradient dS/dx (not multiplied by x), as Captum's
    ``GuidedBackprop``. Adebayo et al. 2018 (NeurIPS) show that its maps hardly
    change when the network's weights are randomised: they look like edge maps of x.

    ``model`` must be an ``nn.Module`` whose ReLUs are ``nn.ReLU`` modules
    (in-place or not); ReLUs written as ``F.relu`` cannot be reached, so a model
    without an ``nn.ReLU`` module raises a ValueError. The guides are forward hooks
    that are removed before this function returns (also on errors): the caller's
    model is left as it was.
    """
    check_model(model)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module with nn.ReLU modules, got {type(model).__name__}")
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError(
            "model must contain nn.ReLU modules (guided backpropagation changes their "
            "backward pass); got a model without any (F.relu cannot be hooked)"
        )
    x = check_x(x)
    target = check_target(target, len(x))
    handles = [relu.register_forward_hook(_guide_relu_output) for relu in relus]
    try:
        return _gradients(model, x, target)
    finally:
        for handle in handles:
            handle.remove()




# ---------------------------------------------------------------------------
# Chapter 08: model-agnostic references (no gradients): occlusion and KernelSHAP
# ---------------------------------------------------------------------------


def _per_dimension(value, name, shape, *, cap):
    """An int or a tuple of ints >= 1, one per dimension of an example (``shape``).

    An int k means k along every dimension; with ``cap`` it is capped at each
    dimension's size (a window of 4 on a (1, 32, 32) image is (1, 4, 4))."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        k = check_int(value, name)
        return tuple(min(k, size) if cap else k for size in shape)
    if not isinstance(value, tuple):
        raise TypeError(
            f"{name} must be an int or a tuple of ints (one per dimension of an example, "
            f"{len(shape)}), got {type(value).__name__}"
        )
    if len(value) != len(shape):
        raise ValueError(
            f"{name} must have one entry per dimension of an example ({len(shape)} for "
            f"examples of shape {tuple(shape)}), got {len(value)}"
        )
    return tuple(check_int(v, f"{name}[{i}]") for i, v in enumerate(value))


def _scores_of(model, inputs, target, n_rows, batch_size):
    """S at every row of ``inputs`` (row r explains example ``n_rows[r]``), no gradients."""
    scores = torch.empty(len(inputs), dtype=inputs.dtype, device=inputs.device)
    with torch.no_grad():
        for rows in _chunks(len(inputs), batch_size):
            # A copy: an in-place first layer must not change the rows we built.
            scores[rows] = target_scores(model, inputs[rows].clone(), _take(target, n_rows[rows]))
    return scores


def occlusion(model, x, target=None, *, window, stride=None, baseline=None, batch_size=None):
    """Occlusion: slide a window over x, set it to the baseline, record the score's drop.

        A_i = (1 / |W_i|) sum_{w in W_i} [ S(x) - S(x with window w set to x') ]

    where W_i is the set of window positions that cover element i. Zeiler & Fergus
    2014, "Visualizing and Understanding Convolutional Networks" (ECCV). As Captum's
    ``Occlusion`` (the drop averaged over the windows that cover an element).
    Used in chapter 08.

    ``window`` and ``stride`` are an int or a tuple with one entry per dimension of
    an example (x.shape[1:]); an int window k is capped at each dimension's size, so
    ``window=4`` on (N, 1, 32, 32) images is (1, 4, 4), and an int stride at the
    window (``stride=2`` then means (1, 2, 2)). ``stride=None`` means the
    window itself (windows that tile without overlap). Along a dimension of size L,
    windows start at 0, s, 2s, ... until one reaches the end (the last may stick out
    and is cut at the border, as in Captum); the stride may not exceed the window,
    so every element is covered. With a window of one
    element and stride 1 it is the leave-one-out difference S(x) - S(x_{i -> x'_i}),
    which for a linear model is w_i (x_i - x'_i). No gradients: one forward pass per
    window position and example (rows in chunks of ``batch_size``).
    """
    check_model(model)
    x = check_x(x)
    target = check_target(target, len(x))
    baseline = baseline_like(baseline, x)
    batch_size = check_batch_size(batch_size)
    shape = x.shape[1:]
    window = _per_dimension(window, "window", shape, cap=True)
    if stride is None:
        stride = window
    elif isinstance(stride, numbers.Integral) and not isinstance(stride, bool):
        stride = tuple(min(check_int(stride, "stride"), k) for k in window)  # capped at the window
    else:
        stride = _per_dimension(stride, "stride", shape, cap=False)
    if any(k > size for k, size in zip(window, shape)):
        raise ValueError(f"window {window} does not fit examples of shape {tuple(shape)}")
    if any(s > k for s, k in zip(stride, window)):
        raise ValueError(f"stride {stride} must not exceed window {window} (elements would be skipped)")
    # Starts 0, s, 2s, ... until a window reaches the end (it may stick out: cut there).
    starts = [range(0, math.ceil((size - k) / s) * s + 1, s) for size, k, s in zip(shape, window, stride)]
    grid = list(itertools.product(*starts))  # window corners; [()] for (N,) inputs
    covered = torch.zeros((len(grid), *shape), dtype=torch.bool, device=x.device)  # (P, ...)
    for p, corner in enumerate(grid):
        covered[(p, *[slice(c, c + k) for c, k in zip(corner, window)])] = True
    # Row r = p N + n: example n with window p set to the baseline.
    n_rows = torch.arange(len(grid) * len(x), device=x.device) % len(x)
    p_rows = torch.arange(len(grid) * len(x), device=x.device) // len(x)
    score = _scores_of(model, x, target, torch.arange(len(x), device=x.device), batch_size)
    drops = torch.empty(len(n_rows), dtype=x.dtype, device=x.device)
    for rows in _chunks(len(n_rows), batch_size):
        n, p = n_rows[rows], p_rows[rows]
        occluded = torch.where(covered[p], baseline[n], x[n])
        drops[rows] = score[n] - _scores_of(model, occluded, target, n, None)
    drops = drops.reshape(len(grid), len(x))
    weights = covered.to(x.dtype)  # (P, ...)
    total = torch.einsum("pn,p...->n...", drops, weights)
    return total / weights.sum(0)  # every element is covered at least once


def _feature_groups(feature_mask, shape, device):
    """(groups of x.shape[1:] with ids 0..d-1, d): each element its own feature if None."""
    size = math.prod(shape)
    if feature_mask is None:
        return torch.arange(size, device=device).reshape(shape), size
    if not isinstance(feature_mask, torch.Tensor):
        raise TypeError(f"feature_mask must be None or an integer tensor, got {type(feature_mask).__name__}")
    if feature_mask.is_floating_point() or feature_mask.is_complex() or feature_mask.dtype == torch.bool:
        raise TypeError(f"feature_mask must be an integer tensor, got dtype {feature_mask.dtype}")
    if feature_mask.shape != shape:
        raise ValueError(
            f"feature_mask must have the shape of one example {tuple(shape)}, got {tuple(feature_mask.shape)}"
        )
    ids = torch.unique(feature_mask)
    d = len(ids)
    if ids.min() != 0 or ids.max() != d - 1:
        raise ValueError(f"feature_mask must use every id 0, 1, ..., d - 1 (here d = {d}), got ids {ids.tolist()}")
    return feature_mask.to(device=device, dtype=torch.long), d


def kernel_shap(model, x, target=None, *, baseline=None, samples=200, generator=None,
                feature_mask=None, batch_size=None):
    """KernelSHAP: Shapley values estimated by a weighted linear regression on coalitions.

    Lundberg & Lee 2017, "A Unified Approach to Interpreting Model Predictions"
    (NeurIPS), Theorem 2: the Shapley values of the game v(z) = S(x_z, x'_rest)
    (features in coalition z from x, the rest from the baseline x') are the
    solution of

        min_phi  sum_z pi(z) [ v(z) - v(0) - sum_i z_i phi_i ]^2
        subject to sum_i phi_i = v(1) - v(0) = S(x) - S(x'),
        pi(z) = (d - 1) / ( C(d, |z|) |z| (d - |z|) ),   0 < |z| < d.

    Instead of weighting all 2^d - 2 coalitions, ``samples`` coalitions are drawn
    *from* the kernel (size s with probability proportional to (d - 1) / (s (d - s)),
    then s features uniformly), so the regression is unweighted; the constraint is
    solved exactly by eliminating the last feature, as the ``shap`` library does.
    The estimate is complete for any number of samples and converges to the exact
    Shapley values (``shapley_values``) as samples grow. Used in chapter 08.

    Random draws, in this order, from ``generator`` (global RNG when None):
    ``torch.multinomial`` of the sizes, then ``torch.rand((samples, d))`` whose
    smallest s entries pick the features. The same coalitions serve every example.
    ``feature_mask`` (integer tensor of x.shape[1:], ids 0..d-1) groups elements
    into d features (e.g. 4x4 patches of an image); None: every element is a
    feature. A feature's value is shared equally among its elements, so the map
    sums to S(x) - S(x'). Forward passes only: samples x N rows, in chunks of
    ``batch_size``.
    """
    check_model(model)
    x = check_x(x)
    target = check_target(target, len(x))
    baseline = baseline_like(baseline, x)
    samples = check_int(samples, "samples")
    generator = check_generator(generator)
    batch_size = check_batch_size(batch_size)
    groups, d = _feature_groups(feature_mask, x.shape[1:], x.device)

    examples = torch.arange(len(x), device=x.device)
    v0 = _scores_of(model, baseline, target, examples, batch_size)  # v(empty) = S(x')
    change = _scores_of(model, x, target, examples, batch_size) - v0  # v(all) - v(empty)
    if d == 1:
        phi = change[:, None]
    else:
        sizes = torch.arange(1, d, dtype=torch.float64)
        chance = (d - 1) / (sizes * (d - sizes))
        draw_device = "cpu" if generator is None else generator.device
        size = 1 + torch.multinomial(chance.to(draw_device), samples, replacement=True, generator=generator)
        keys = torch.rand((samples, d), generator=generator, device=draw_device, dtype=torch.float64)
        rank = keys.argsort(1).argsort(1)  # rank of each feature's key within its sample
        z = (rank < size[:, None]).to(x.device)  # (samples, d): the coalitions

        # Row r = j N + n: example n with coalition j (its features from x, the rest from x').
        n_rows = torch.arange(samples * len(x), device=x.device) % len(x)
        j_rows = torch.arange(samples * len(x), device=x.device) // len(x)
        values = torch.empty(len(n_rows), dtype=x.dtype, device=x.device)
        for rows in _chunks(len(n_rows), batch_size):
            n, j = n_rows[rows], j_rows[rows]
            mixed = torch.where(z[j][:, groups], x[n], baseline[n])
            values[rows] = _scores_of(model, mixed, target, n, None)
        gain = values.reshape(samples, len(x)).double() - v0.double()  # v(z) - v(0)
        zf = z.double()
        # phi_d = change - sum_{i<d} phi_i turns the constraint into an ordinary regression:
        # v(z) - v(0) - z_d change = sum_{i<d} (z_i - z_d) phi_i
        design = zf[:, :-1] - zf[:, -1:]  # (samples, d - 1)
        response = gain - zf[:, -1:] * change.double()[None, :]  # (samples, N)
        # gelsd (SVD, rank-deficient designs allowed) exists on the CPU only.
        solution = torch.linalg.lstsq(design.cpu(), response.cpu(), driver="gelsd").solution
        solution = solution.to(x.device)  # (d - 1, N)
        phi = torch.cat([solution.T, (change.double() - solution.sum(0))[:, None]], dim=1)
    phi = phi.to(x.dtype)
    elements = torch.bincount(groups.reshape(-1), minlength=d).to(x.dtype)  # elements per feature
    return (phi / elements)[:, groups]
