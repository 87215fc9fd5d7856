"""Numbers that judge an attribution map: completeness, deletion/insertion,
rank agreement, the randomisation sanity check and ground-truth mask scores.

Conventions shared by every function here:

* ``x`` and ``attributions`` are batches: the first dimension indexes examples
  (N), and every function returns one value per example (a tensor of shape (N,)).
* The *score* ``S`` is one number per example taken from ``model(x)``: the
  model returns (N,) or (N, C); ``target`` is ``None`` (the model has a single
  output), an ``int`` (the same class for every example) or a 1-D integer
  tensor of length N (one class per example). Targets, baselines and the score
  are checked by the same code as in ``helpers.attribution``, with the same errors.
* Nothing here changes the caller's model or tensors, and no metric calls
  ``model.eval()`` for you: a model in training mode gets a warning, as there.
"""

import copy

import torch

from .contract import (
    baseline_like,
    check_generator,
    check_int,
    check_model,
    check_same_shape,
    check_target,
    check_tensor,
    target_scores,
)

__all__ = [
    "completeness_gap",
    "deletion_curve",
    "insertion_curve",
    "area_under_curve",
    "spearman",
    "cascading_randomization",
    "mask_mass",
    "pointing_game",
    "controls",
    "noisy_linear_imputation",
    "road_curve",
    "infidelity",
    "sensitivity_max",
    "ssim",
    "relevance_rank_accuracy",
]


# ---------------------------------------------------------------------------
# small checks and the score S
# ---------------------------------------------------------------------------

def _score(model, x, target):
    """S: one score per example (N,), with the same target rules and errors as
    helpers.attribution, which owns the book's one definition of the score."""
    return target_scores(model, x, check_target(target, len(x)))


# ---------------------------------------------------------------------------
# completeness (chapters 04, 05)
# ---------------------------------------------------------------------------

def completeness_gap(model, x, attributions, target=None, *, baseline=None):
    """How far the attributions are from summing to the change of the score.

        gap[n] = sum_i attributions[n, i] - (S(x[n]) - S(baseline[n]))

    Completeness (Sundararajan, Taly, Yan 2017, "Axiomatic Attribution for Deep
    Networks", ICML) asks for gap = 0. Input x Gradient has gap 0 for a linear
    model with baseline 0, Integrated Gradients up to its Riemann error.
    Used in chapters 05 (completeness) and 08 (related methods).

    Args:
        model: callable returning (N,) or (N, C) scores.
        x: inputs (N, ...).
        attributions: same shape as x.
        target: None, int, or 1-D integer tensor of length N (see module docstring).
        baseline: None (zeros), a number, or a tensor broadcastable to x.

    Returns:
        (N,) tensor of gaps. No gradients are computed.
    """
    check_model(model)
    check_same_shape(x, attributions)
    reference = baseline_like(baseline, x)
    with torch.no_grad():
        change = _score(model, x, target) - _score(model, reference, target)
        total = attributions.detach().reshape(len(attributions), -1).sum(dim=1)
    return total - change


# ---------------------------------------------------------------------------
# deletion / insertion (chapter 09)
# ---------------------------------------------------------------------------

def _ranks(attributions):
    """rank[n, i] = position of feature i when example n is sorted, most positive first.

    A stable sort breaks ties by feature index, so the order is deterministic."""
    flat = attributions.detach().reshape(len(attributions), -1)  # (N,) inputs too
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices
    positions = torch.arange(flat.shape[1], device=flat.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, positions)


def _perturbation_curve(model, x, attributions, target, baseline, steps, *, insert):
    check_model(model)
    check_same_shape(x, attributions)
    steps = check_int(steps, "steps")
    n, d = x.shape[0], x[0].numel()
    reference = baseline_like(baseline, x).reshape(n, -1)
    ranks = _ranks(attributions)                                      # (N, D)
    # k_j = floor(j * D / steps) features are switched after step j.
    k = torch.arange(steps + 1, device=x.device) * d // steps          # (steps+1,)
    switched = ranks[None] < k[:, None, None]                          # (steps+1, N, D)
    flat_x = x.reshape(n, -1)
    start, end = (reference, flat_x) if insert else (flat_x, reference)
    batch = torch.where(switched, end[None], start[None])              # (steps+1, N, D)
    batch = batch.reshape((steps + 1) * n, *x.shape[1:])
    target = check_target(target, n)
    repeated = target.repeat(steps + 1) if isinstance(target, torch.Tensor) else target  # step-major
    with torch.no_grad():                                              # one batched forward pass
        scores = target_scores(model, batch, repeated).reshape(steps + 1, n).T
    fractions = torch.linspace(0.0, 1.0, steps + 1, device=x.device, dtype=scores.dtype)
    return fractions, scores


def deletion_curve(model, x, attributions, target=None, *, baseline=0.0, steps=20):
    """The score as the most important features are removed (replaced by the baseline).

    Deletion (Petsiuk, Das, Saenko 2018, "RISE: Randomized Input Sampling for
    Explanation of Black-box Models", BMVC): order the features of x[n] by
    attribution, most positive first, and for fraction f_j = j / steps set the
    top k_j = floor(f_j * D) features to the baseline, recording
        scores[n, j] = S(x[n] with its top k_j features deleted).
    A good map makes the score fall fast (small area under the curve).
    Used in chapter 09.

    A *feature* is one element of x[n]: a pixel for one-channel images, a
    (channel, pixel) value for multi-channel ones. Ties in the attribution are
    broken by feature index (a stable sort), so the curve is deterministic.
    All steps of all examples go through the model in one batched forward pass
    of (steps + 1) * N inputs.

    Args:
        baseline: the value deleted features take: a number or a tensor
            broadcastable to x (default 0).
        steps: number of steps; the curve has steps + 1 points.

    Returns:
        (fractions, scores): fractions (steps + 1,) from 0 to 1, scores (N, steps + 1).
    """
    return _perturbation_curve(model, x, attributions, target, baseline, steps, insert=False)


def insertion_curve(model, x, attributions, target=None, *, baseline=0.0, steps=20):
    """The score as the most important features are inserted into the baseline.

    Insertion (Petsiuk, Das, Saenko 2018, RISE, BMVC) is the mirror of
    deletion: start from the baseline and put back the top k_j = floor(f_j * D)
    features of x[n] (most positive attribution first),
        scores[n, j] = S(baseline with the top k_j features of x[n]).
    A good map makes the score rise fast (large area under the curve).
    Features, tie-breaking and batching are as in `deletion_curve`.
    Used in chapter 09.

    Returns:
        (fractions, scores): fractions (steps + 1,) from 0 to 1, scores (N, steps + 1).
    """
    return _perturbation_curve(model, x, attributions, target, baseline, steps, insert=True)


def area_under_curve(fractions, scores):
    """Trapezoid area under each curve: sum_j (f_{j+1} - f_j) (s_j + s_{j+1}) / 2.

    The summary number of a deletion or insertion curve (Petsiuk et al. 2018,
    RISE, BMVC). Used in chapter 09.

    Args:
        fractions: (K,) x-coordinates.
        scores: (N, K) one curve per row.

    Returns:
        (N,) areas.
    """
    check_tensor(fractions, "fractions")
    check_tensor(scores, "scores", min_dim=2)
    if fractions.dim() != 1 or scores.dim() != 2 or scores.shape[1] != fractions.shape[0]:
        raise ValueError(
            "fractions must be 1-D (K,) and scores (N, K); "
            f"got {tuple(fractions.shape)} and {tuple(scores.shape)}"
        )
    return torch.trapezoid(scores, fractions.to(scores), dim=1)


# ---------------------------------------------------------------------------
# rank agreement (chapter 09)
# ---------------------------------------------------------------------------

def _average_ranks(values):
    """1-based ranks along dim 1, ties get the mean of the ranks they span."""
    ordered = values.sort(dim=1).values
    below = torch.searchsorted(ordered, values, right=False)       # how many are smaller
    up_to = torch.searchsorted(ordered, values, right=True)        # how many are smaller or equal
    return (below + up_to + 1).to(values.dtype) / 2                  # mean of ranks below+1 .. up_to


def spearman(a, b):
    """Spearman rank correlation between a[n] and b[n], one number per example.

        rho[n] = Pearson correlation of rank(a[n].flatten()) and rank(b[n].flatten())

    with tied values given their average rank (as scipy.stats.spearmanr).
    Spearman, 1904, "The proof and measurement of association between two
    things", American Journal of Psychology. Adebayo et al. 2018 (NeurIPS) use
    it to compare maps before and after randomising the model. Used in chapters 03, 09 and 11.

    Args:
        a, b: tensors of the same shape (N, ...); each example is flattened.

    Returns:
        (N,) tensor in [-1, 1]; NaN for an example where a[n] or b[n] is constant
        (the correlation is undefined there, as in scipy).
    """
    check_tensor(a, "a", min_dim=2)
    check_tensor(b, "b", min_dim=2)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a[0].numel() < 2:
        raise ValueError("each example must have at least 2 values to rank")
    dtype = torch.float64 if torch.float64 in (a.dtype, b.dtype) else torch.float32
    ra = _average_ranks(a.detach().flatten(1).to(dtype))
    rb = _average_ranks(b.detach().flatten(1).to(dtype))
    ra = ra - ra.mean(dim=1, keepdim=True)
    rb = rb - rb.mean(dim=1, keepdim=True)
    return (ra * rb).sum(dim=1) / (ra.norm(dim=1) * rb.norm(dim=1))


# ---------------------------------------------------------------------------
# the model-randomisation sanity check (chapter 09)
# ---------------------------------------------------------------------------

def _parametrised_layers(model):
    """(name, module) for modules that own parameters directly, in registration order."""
    return [
        (name, module)
        for name, module in model.named_modules()
        if any(True for _ in module.parameters(recurse=False))
    ]


def _init_scale(module):
    """The std of the layer's original weight (all its own parameters if it has no weight)."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        weight = torch.cat([p.detach().flatten() for p in module.parameters(recurse=False)])
    scale = weight.detach().float().std(correction=0).item()
    if not scale > 0:
        # A constant weight (e.g. a fresh BatchNorm of ones) has std 0: use its magnitude.
        scale = weight.detach().float().abs().max().item() or 1.0
    return scale


@torch.no_grad()
def _reinitialise(module, generator):
    scale = _init_scale(module)
    for p in module.parameters(recurse=False):
        # Draw on the generator's device, then move: works for any parameter device/dtype.
        device = "cpu" if generator is None else generator.device
        noise = torch.randn(p.shape, generator=generator, device=device)
        p.copy_((noise * scale).to(p))


def cascading_randomization(model, x, method, target=None, *, generator=None):
    """Cascading model-parameter randomisation (the sanity check).

    Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim 2018, "Sanity Checks for
    Saliency Maps", NeurIPS: re-initialise the layers of a trained network one
    at a time, from the top (output layer) down, cumulatively, and recompute the
    map after each step. A map that does not change while the model is
    destroyed cannot be explaining the model. Used in chapters 09 and 11.

        results = [("original", method(model, x, target)),
                   (layer_L,   method(model with layer L randomised, x, target)),
                   (layer_L-1, method(model with layers L, L-1 randomised, x, target)),
                   ...]

    Details:
        * The model is deep-copied; the caller's model (weights, buffers,
          training flag) is never changed.
        * Layers are the modules that own parameters (Linear, Conv2d, ...), in
          reverse registration order: for an ``nn.Sequential`` (or a module that
          registers its layers in forward order) this is output layer first.
        * Every parameter of a layer (weight and bias) is redrawn from
          N(0, sigma^2), sigma = the std of that layer's original weight, so the
          randomised layer has the same scale as the trained one (the paper
          re-initialises with the original initialisation scheme; matching the
          trained scale keeps activations in a comparable range).
        * Random numbers come from ``generator`` (a ``torch.Generator``, or
          None for torch's global generator, as everywhere in helpers); the same
          seed gives the same sequence of models.

    Args:
        model: a torch.nn.Module.
        x: the inputs passed to ``method``.
        method: ``method(model, x, target) -> attributions``.
        target: passed through to ``method``.
        generator: torch.Generator for the new weights.

    Returns:
        list of (layer_name, attributions), starting with ("original", ...);
        tensors are detached.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(method):
        raise TypeError(f"method must be callable as method(model, x, target), got {type(method).__name__}")
    check_generator(generator)

    def run(m):
        result = method(m, x, target)
        return result.detach() if isinstance(result, torch.Tensor) else result

    randomised = copy.deepcopy(model)
    results = [("original", run(model))]
    for name, layer in reversed(_parametrised_layers(randomised)):
        _reinitialise(layer, generator)
        results.append((name, run(randomised)))
    return results


# ---------------------------------------------------------------------------
# ground-truth masks (chapter 09)
# ---------------------------------------------------------------------------

def _check_mask(mask):
    check_tensor(mask, "mask", min_dim=2)
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a boolean tensor, got dtype {mask.dtype} (use e.g. mask > 0.5)")


def _to_mask_shape(values, mask):
    """Sum values over channels when they have more channels than the mask.

    (N, C, H, W) values with an (N, H, W) or (N, 1, H, W) mask -> summed over C."""
    if values.shape == mask.shape:
        return values
    same_batch = values.shape[0] == mask.shape[0]
    if same_batch and values.dim() == mask.dim() + 1 and values.shape[2:] == mask.shape[1:]:
        return values.sum(dim=1)
    if same_batch and values.dim() == mask.dim() and mask.shape[1] == 1 and values.shape[2:] == mask.shape[2:]:
        return values.sum(dim=1, keepdim=True)
    raise ValueError(
        f"attributions of shape {tuple(values.shape)} do not fit the mask of shape {tuple(mask.shape)}; "
        "expected the same shape, or (N, C, ...) attributions with an (N, ...) or (N, 1, ...) mask"
    )


def mask_mass(attributions, mask):
    """Share of the absolute attribution that falls inside a ground-truth mask.

        mass[n] = sum_{i in mask[n]} |a[n, i]| / sum_i |a[n, i]|     (0 when a[n] = 0)

    In the spirit of the relevance mass accuracy of Arras, Osman, Samek 2022
    ("CLEVR-XAI: A benchmark dataset for the ground truth evaluation of neural
    network explanations", Information Fusion) and the energy-based pointing
    game of Wang et al. 2020 (Score-CAM, CVPR workshops). We use |a|, so strong
    negative evidence inside the mask also counts as looking at it. If the attributions
    have more channels than the mask, |a| is summed over channels first (so
    signs of different channels cannot cancel). Used in chapters 03, 05, 07, 08 and 10.

    Args:
        attributions: (N, ...) or (N, C, ...) tensor.
        mask: boolean tensor (N, ...) or (N, 1, ...).

    Returns:
        (N,) tensor with values in [0, 1].
    """
    check_tensor(attributions, "attributions", min_dim=2)
    _check_mask(mask)
    magnitude = _to_mask_shape(attributions.detach().abs(), mask)
    mask = mask.to(magnitude.device)
    inside = (magnitude * mask).flatten(1).sum(dim=1)
    total = magnitude.flatten(1).sum(dim=1)
    return torch.where(total > 0, inside / torch.where(total > 0, total, 1), torch.zeros_like(total))


def pointing_game(attributions, mask):
    """Whether the single most positive attribution lies inside the mask.

        hit[n] = mask[n, argmax_i a[n, i]]   and   max_i a[n, i] > 0

    Zhang, Bargal, Lin, Brandt, Shen, Sclaroff 2018, "Top-down Neural Attention
    by Excitation Backprop", IJCV (ECCV 2016). Differences from the paper: no
    15-pixel tolerance (our images are tiny); a map with no positive value
    scores a miss; on ties the first maximum (in flattened order) counts;
    multi-channel attributions are summed (signed) over channels first, as in
    the heatmaps. Used in chapters 03, 08 and 10.

    Args:
        attributions: (N, ...) or (N, C, ...) tensor.
        mask: boolean tensor (N, ...) or (N, 1, ...).

    Returns:
        (N,) boolean tensor; ``.float().mean()`` is the pointing accuracy.
    """
    check_tensor(attributions, "attributions", min_dim=2)
    _check_mask(mask)
    values = _to_mask_shape(attributions.detach(), mask).flatten(1)
    best, where = values.max(dim=1)
    hit = mask.to(values.device).flatten(1).gather(1, where[:, None])[:, 0]
    return hit & (best > 0)


# ---------------------------------------------------------------------------
# controls: maps that need no model (chapters 09, 10)
# ---------------------------------------------------------------------------

from .contract import check_number  # noqa: E402  (kept with the section that uses it)



def _sobel_magnitude(x):
    """|grad x| by the Sobel filters, per channel, with replicated borders:
    sqrt(gx^2 + gy^2), gx = [1 2 1]^T [-1 0 1] / 8 * x and gy its transpose."""
    flat = x.reshape(-1, 1, *x.shape[-2:])
    smooth = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device) / 4
    diff = torch.tensor([-1.0, 0.0, 1.0], dtype=x.dtype, device=x.device) / 2
    kx = (smooth[:, None] * diff[None, :])[None, None]
    padded = torch.nn.functional.pad(flat, (1, 1, 1, 1), mode="replicate")
    gx = torch.nn.functional.conv2d(padded, kx)
    gy = torch.nn.functional.conv2d(padded, kx.transpose(2, 3))
    return (gx.square() + gy.square()).sqrt().reshape(x.shape)


def controls(x, *, p=3, generator=None):
    """The model-free control maps of a batch of images, one call for a control row.

        x         the input itself        (brightness)
        x²        x ** 2                  (brightness, sharpened)
        |x|^p     |x| ** p, p = 3 default (sharper still)
        edges     |Sobel gradient of x|   (contrast: where the image changes)
        random    uniform in [0, 1)       (chance: nothing at all)

    A method is worth its name on a data set only where it beats these maps: they use
    no model, so whatever they score comes from the image alone (Adebayo et al. 2018,
    NeurIPS, "Sanity checks for saliency maps", compare with an edge detector for the
    same reason). The synthetic set of ``helpers.data`` is built so that these maps
    score at chance on it (data/README.md gives the numbers). The untrained-network
    control is ``helpers.models.untrained(name, seed)``. Used in chapters 02, 03, 05 and
    07–10.

    Args:
        x: (N, C, H, W) floating-point images.
        p: the exponent of the |x|^p map (a number >= 1).
        generator: torch.Generator for the random map (None: torch's global RNG).

    Returns:
        dict name -> (N, C, H, W) tensor, in the order above (the third is named
        ``f"|x|^{p:g}"``), to score with ``mask_mass`` and ``pointing_game`` like any
        attribution map.
    """
    check_tensor(x, "x", min_dim=4)
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    p = check_number(p, "p", minimum=1)
    generator = check_generator(generator)
    x = x.detach()
    draw_device = "cpu" if generator is None else generator.device
    noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=draw_device)
    return {
        "x": x.clone(),
        "x²": x.square(),
        f"|x|^{p:g}": x.abs().pow(p),
        "edges": _sobel_magnitude(x),
        "random": noise.to(x.device),
    }


# ROAD, infidelity, max-sensitivity and SSIM (chapters 09-10)
# ---------------------------------------------------------------------------

import torch.nn.functional as F  # noqa: E402  (this section is appended; see above)

from .contract import check_batch_size, check_choice, check_number, check_x  # noqa: E402


def _check_images(x, name="x"):
    x = check_x(x, name)
    if x.ndim != 4:
        raise ValueError(f"{name} must be a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
    return x


def _neighbour_sum(values):
    """sum_j w_ij values_j over the in-image neighbours j of every pixel i (zero padding).

    The weights are outer([1, 2, 1], [1, 2, 1]) / 12 without the centre: 1/12 on
    the diagonals and 2/12 = 1/6 on the edges, applied as two 1-D passes."""
    padded = F.pad(values, (1, 1, 1, 1))
    rows = padded[..., :, :-2] + 2 * padded[..., :, 1:-1] + padded[..., :, 2:]
    both = rows[..., :-2, :] + 2 * rows[..., 1:-1, :] + rows[..., 2:, :]
    return both / 12 - values / 3  # remove the centre's weight 4/12


def _conjugate_gradients(m, known, tolerance, max_iterations):
    """Solve d_i v_i - sum_{j unknown} w_ij v_j = sum_{j known} w_ij x_j on the unknowns.

    m is 1 on unknown pixels; one system per image (all its channels together).
    Preconditioned (Jacobi) conjugate gradients, batched over images; an image
    leaves the batch once its residual is below tolerance * |right-hand side|, so
    small holes do not wait for large ones."""
    degree = _neighbour_sum(torch.ones_like(m[:1]))  # sum_j w_ij over in-image neighbours

    def operator(v, m):  # A v on the unknowns (zero elsewhere)
        return m * (degree * v - _neighbour_sum(m * v))

    def dot(a, b):
        return (a * b).flatten(1).sum(1).reshape(-1, 1, 1, 1)

    b = m * _neighbour_sum(known)
    solution = torch.zeros_like(b)
    active = torch.arange(len(b), device=b.device)
    v, r, mask = solution.clone(), b.clone(), m
    goal = tolerance * b.flatten(1).norm(dim=1)
    z = r / degree
    p, rz = z.clone(), dot(r, z)
    for _ in range(max_iterations + 1):
        done = r.flatten(1).norm(dim=1) <= goal
        if done.any():
            solution[active[done]] = v[done]
            keep = ~done
            active, v, r, p, rz, mask, goal = (t[keep] for t in (active, v, r, p, rz, mask, goal))
        if len(active) == 0:
            return solution
        q = operator(p, mask)
        pq = dot(p, q)
        alpha = torch.where(pq > 0, rz / torch.where(pq > 0, pq, 1), 0)
        v = v + alpha * p
        r = r - alpha * q
        z = r / degree
        rz_next = dot(r, z)
        beta = torch.where(rz > 0, rz_next / torch.where(rz > 0, rz, 1), 0)
        p = z + beta * p
        rz = rz_next
    raise ValueError(
        f"the imputation did not converge in max_iterations={max_iterations} iterations "
        f"for {len(active)} image(s); raise max_iterations or tolerance"
    )


def noisy_linear_imputation(
    x, removed, *, noise_std=0.01, generator=None, tolerance=1e-6, max_iterations=None
):
    """Fill the removed pixels of x with the weighted mean of their neighbours, plus noise.

    The imputation of ROAD (Rong, Leemann, Borisov, Kasneci & Kasneci 2022, "A
    Consistent and Efficient Evaluation Strategy for Attribution Methods", ICML).
    Every removed pixel i (in every channel) takes the weighted mean of its eight
    neighbours j inside the image, removed ones included,

        v_i = sum_j w_ij v_j / sum_j w_ij,   w = 1/6 (edge neighbours), 1/12 (diagonal),

    while kept pixels keep their value. These equations form one sparse linear
    system per image and channel, d_i v_i - sum_{j removed} w_ij v_j =
    sum_{j kept} w_ij x_j; it is symmetric positive definite as long as at least one
    pixel is kept, and is solved here by conjugate gradients with a Jacobi
    preconditioner, in double precision, all images at once (an image leaves the
    batch when its residual is below ``tolerance`` times its right-hand side). Then N(0, noise_std^2) noise is added to
    the imputed pixels (the paper's default noise is 0.01). Chapter 09.

    Args:
        x: images (N, C, H, W).
        removed: boolean mask (N, H, W) or (N, 1, H, W), True where a pixel is removed
            (all channels); at least one pixel of each image must be kept.
        noise_std: standard deviation of the noise on imputed pixels (>= 0).
        generator: torch.Generator for the noise (None: torch's global RNG); the
            noise is drawn as ``torch.randn(x.shape)`` on the generator's device.
        tolerance: relative residual at which the solver stops.
        max_iterations: solver iterations at most (default 10 * H * W); a ValueError
            says so if the residual is still larger.

    Returns:
        a new tensor of x's shape and dtype; x is not changed.
    """
    x = _check_images(x)
    _check_mask(removed)
    if removed.dim() == 4 and removed.shape[1] == 1:
        removed = removed[:, 0]
    if removed.shape != (x.shape[0], *x.shape[2:]):
        raise ValueError(
            f"removed must have shape (N, H, W) = {(x.shape[0], *x.shape[2:])} or (N, 1, H, W), "
            f"got {tuple(removed.shape)}"
        )
    check_number(noise_std, "noise_std", minimum=0)
    check_generator(generator)
    check_number(tolerance, "tolerance", minimum=0)
    h, w = x.shape[-2:]
    max_iterations = 10 * h * w if max_iterations is None else check_int(max_iterations, "max_iterations")
    if removed.flatten(1).all(dim=1).any():
        raise ValueError("removed must keep at least one pixel of every image (nothing to impute from)")

    # Solved in double precision (a relative residual of 1e-6 is out of float32's
    # reach after many iterations); returned in x's dtype.
    m = removed[:, None].to(device=x.device, dtype=torch.float64).expand(x.shape)  # 1 = unknown
    known = x.to(torch.float64) * (1 - m)
    imputed = known + m * _conjugate_gradients(m, known, tolerance, max_iterations)
    if noise_std > 0:
        device = x.device if generator is None else generator.device
        noise = torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)
        imputed = imputed + m * noise_std * noise.to(torch.float64)
    return imputed.to(x.dtype)


def road_curve(
    model, x, attributions, target=None, *, order="morf", steps=10, noise_std=0.01, generator=None
):
    """ROAD: the score as pixels are removed in the map's order and imputed, not zeroed.

    RemOve And Debias (Rong, Leemann, Borisov, Kasneci & Kasneci 2022, "A
    Consistent and Efficient Evaluation Strategy for Attribution Methods", ICML).
    Deleting pixels by setting them to a baseline leaks information: the *shape*
    of the deleted region can tell the model the class, whatever the pixels held.
    ROAD instead replaces removed pixels by ``noisy_linear_imputation`` (their
    neighbours' weighted mean, plus noise), which leaves little trace of where
    the removed pixels were. Pixels are ranked by the attribution summed over
    channels (ties by pixel index, a stable sort), and for f_j = j / steps,
    j = 0 .. steps - 1, the k_j = floor(f_j * H * W) pixels are removed:

        order="morf"  most relevant first (most positive first): a faithful map
                      makes the score fall fast;
        order="lerf"  least relevant first (most negative first): the score should
                      stay high.

        scores[n, j] = S(imputed x[n] with its k_j pixels removed)

    The last point (every pixel removed) is left out: there is nothing to impute
    from. All steps of all examples are imputed and scored in one batch.
    Chapter 09.

    Args:
        x: images (N, C, H, W); attributions of the same shape.
        order: "morf" or "lerf".
        steps: the curve has ``steps`` points, f = 0, 1/steps, ..., (steps-1)/steps.
        noise_std, generator: the imputation noise (see noisy_linear_imputation).

    Returns:
        (fractions, scores): fractions (steps,), scores (N, steps); no gradients.
    """
    check_model(model)
    x = _check_images(x)
    check_same_shape(x, attributions)
    check_choice(order, "order", ("morf", "lerf"))
    steps = check_int(steps, "steps")
    n, pixels = x.shape[0], x.shape[2] * x.shape[3]
    relevance = attributions.detach().sum(dim=1).flatten(1)  # (N, H*W)
    ranks = _ranks(relevance if order == "morf" else -relevance)
    k = torch.arange(steps, device=x.device) * pixels // steps
    removed = ranks[None] < k[:, None, None]  # (steps, N, H*W)
    removed = removed.reshape(steps * n, *x.shape[2:])
    batch = x.repeat(steps, 1, 1, 1)  # step-major, as removed
    imputed = noisy_linear_imputation(batch, removed, noise_std=noise_std, generator=generator)
    target = check_target(target, n)
    repeated = target.repeat(steps) if isinstance(target, torch.Tensor) else target
    with torch.no_grad():
        scores = target_scores(model, imputed, repeated).reshape(steps, n).T
    fractions = torch.arange(steps, device=x.device, dtype=scores.dtype) / steps
    return fractions, scores


def infidelity(model, x, attributions, target=None, *, perturbations, scale_by_input=False, normalize=False):
    """Infidelity: how badly the map predicts the score's change under perturbations.

    Yeh, Hsieh, Suggala, Inouye & Ravikumar 2019, "On the (In)fidelity and
    Sensitivity of Explanations" (NeurIPS), their definition of infidelity:

        INFD[n] = mean_k ( I_k[n] . a[n]  -  (S(x[n]) - S(x[n] - I_k[n])) )^2

    for K perturbations I_k given by the caller (e.g. ``sigma * torch.randn((K,
    *x.shape), generator=g)``, the paper's Gaussian perturbation). Small is good:
    the map, read as a linear model of the score, predicts what removing I does.
    For Gaussian I ~ N(0, sigma^2) the map with the lowest expected infidelity is
    E[dS/dx(x - I)], SmoothGrad with the same sigma (by Stein's lemma).

    ``scale_by_input=True`` is for maps that already multiply by the input
    (Input x Gradient, Integrated Gradients from 0): the input is perturbed to
    x - x * I_k while the map is still dotted with I_k, so a binary I_k removes a
    subset of features (Captum's ``multiply_by_inputs``). For a linear model,
    Input x Gradient then has infidelity 0 for every I.

    ``normalize=True`` first rescales the map by the best factor
    beta = E[(I.a)(S(x) - S(x - I))] / E[(I.a)^2], as the paper's code and
    Captum's ``normalize`` do, so only the map's shape is judged, not its scale.

    Args:
        attributions: same shape as x.
        perturbations: tensor (K, *x.shape).

    Returns:
        (N,) infidelities; no gradients. Chapter 09.
    """
    check_model(model)
    x = check_x(x)
    check_same_shape(x, attributions)
    check_tensor(perturbations, "perturbations", min_dim=2)
    if perturbations.shape[1:] != x.shape:
        raise ValueError(
            f"perturbations must have shape (K, *x.shape) = (K, {', '.join(map(str, x.shape))}), "
            f"got {tuple(perturbations.shape)}"
        )
    if not isinstance(scale_by_input, bool):
        raise TypeError(f"scale_by_input must be a bool, got {type(scale_by_input).__name__}")
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be a bool, got {type(normalize).__name__}")
    samples, n = perturbations.shape[:2]
    perturbations = perturbations.detach().to(x)
    change = x * perturbations if scale_by_input else perturbations
    target = check_target(target, n)
    repeated = target.repeat(samples) if isinstance(target, torch.Tensor) else target
    with torch.no_grad():
        score = target_scores(model, x, target)  # (N,)
        perturbed = target_scores(model, (x - change).reshape(-1, *x.shape[1:]), repeated)
        difference = score - perturbed.reshape(samples, n)  # (K, N)
        predicted = (perturbations * attributions.detach()).reshape(samples, n, -1).sum(2)  # I . a
    if normalize:
        num = (predicted * difference).mean(0)
        den = (predicted * predicted).mean(0)
        beta = torch.where(den > 0, num / torch.where(den > 0, den, 1), 0)
        predicted = beta * predicted
    return ((predicted - difference) ** 2).mean(0)


def sensitivity_max(model, x, method, target=None, *, radius=0.02, samples=10, relative=True,
                    generator=None, batch_size=None):
    """Max-sensitivity: the largest change of the map within a small ball around x.

    Yeh, Hsieh, Suggala, Inouye & Ravikumar 2019, "On the (In)fidelity and
    Sensitivity of Explanations" (NeurIPS), their max-sensitivity, estimated by sampling:

        SENS[n] = max_k || Phi(x[n] + d_k) - Phi(x[n]) || / || Phi(x[n]) ||,
        d_k ~ Uniform([-radius, radius]^D),  k = 1 .. samples,

    with the Frobenius norm over the example. ``relative=True`` divides by the
    map's norm (as Captum's ``sensitivity_max``; a zero map divides by 1), so
    methods with maps of different scale compare; ``relative=False`` is the paper's
    absolute version. Smoothing a map (SmoothGrad) lowers it (the paper's Section 4).

    The noise is drawn as ``radius * (2 * torch.rand((samples, *x.shape)) - 1)``
    from ``generator`` (None: torch's global RNG); ``method(model, rows, target)``
    is called on x and then on the noisy copies, in batches of at most
    ``batch_size`` rows (None: all at once), so it must treat the examples of a
    batch independently and deterministically (every method in helpers.attribution
    does, except SmoothGrad, whose fresh noise would count as sensitivity: average
    the gradient over fixed offsets instead). Chapter 09.

    Returns:
        (N,) sensitivities (detached).
    """
    check_model(model)
    x = check_x(x)
    if not callable(method):
        raise TypeError(f"method must be callable as method(model, x, target), got {type(method).__name__}")
    check_number(radius, "radius", minimum=0)
    samples = check_int(samples, "samples")
    if not isinstance(relative, bool):
        raise TypeError(f"relative must be a bool, got {type(relative).__name__}")
    check_generator(generator)
    batch_size = check_batch_size(batch_size)
    n = len(x)
    target = check_target(target, n)

    device = x.device if generator is None else generator.device
    uniform = torch.rand((samples, *x.shape), generator=generator, device=device, dtype=x.dtype)
    noisy = (x + radius * (2 * uniform.to(x.device) - 1)).reshape(-1, *x.shape[1:])
    repeated = target.repeat(samples) if isinstance(target, torch.Tensor) else target
    step = len(noisy) if batch_size is None else batch_size
    original = method(model, x, target).detach()
    maps = []
    for start in range(0, len(noisy), step):
        rows = slice(start, start + step)
        part = repeated[rows] if isinstance(repeated, torch.Tensor) else repeated
        maps.append(method(model, noisy[rows], part).detach())
    maps = torch.cat(maps).reshape(samples, n, -1)
    distance = (maps - original.reshape(1, n, -1)).norm(dim=2)  # (K, N)
    if relative:
        norm = original.reshape(n, -1).norm(dim=1)
        distance = distance / torch.where(norm > 0, norm, 1)
    return distance.max(dim=0).values


def ssim(a, b, *, window=7, data_range=None):
    """Structural similarity of two maps, one number per example.

    Wang, Bovik, Sheikh & Simoncelli 2004, "Image quality assessment: from error
    visibility to structural similarity" (IEEE Transactions on Image Processing),
    as Adebayo et al. 2018 (NeurIPS) use it beside Spearman's rho. For every
    ``window`` x ``window`` patch that fits inside the map (no padding),

        SSIM = (2 mu_a mu_b + C1)(2 s_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(s_a^2 + s_b^2 + C2))

    with the patch means mu, sample variances s^2 and covariance s_ab (divided by
    window^2 - 1), C1 = (0.01 L)^2, C2 = (0.03 L)^2 and L = ``data_range``; the
    result is the mean over patches (and channels). These are scikit-image's
    defaults (``structural_similarity`` with a uniform window). With
    ``data_range=None``, L = max - min of the two maps together, per example
    (1 if both are constant).

    Args:
        a, b: maps (N, H, W) or (N, C, H, W) of one shape.
        window: odd int >= 3, at most H and W.

    Returns:
        (N,) tensor, 1 for identical maps.
    Used in chapter 09.
    """
    check_tensor(a, "a", min_dim=3)
    check_tensor(b, "b", min_dim=3)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dim() > 4:
        raise ValueError(f"a and b must have shape (N, H, W) or (N, C, H, W), got {tuple(a.shape)}")
    window = check_int(window, "window", minimum=3)
    if window % 2 == 0 or window > min(a.shape[-2:]):
        raise ValueError(f"window must be odd and at most the map size {tuple(a.shape[-2:])}, got {window}")
    dtype = torch.float64 if torch.float64 in (a.dtype, b.dtype) else torch.float32
    a, b = a.detach().to(dtype), b.detach().to(dtype)
    n = len(a)
    if data_range is None:
        both = torch.cat([a.reshape(n, -1), b.reshape(n, -1)], dim=1)
        span = both.amax(1) - both.amin(1)
        span = torch.where(span > 0, span, 1)  # two equal constant maps: SSIM 1, not 0/0
    else:
        data_range = check_number(data_range, "data_range", minimum=0)
        if data_range == 0:  # C1 = C2 = 0 would give 0/0 on constant patches
            raise ValueError("data_range must be > 0 (the maps' value range), got 0")
        span = torch.full((n,), data_range, dtype=dtype)
    span = span.to(a.device).reshape(n, 1, 1, 1)
    c1, c2 = (0.01 * span) ** 2, (0.03 * span) ** 2
    a4 = a.reshape(n, -1, *a.shape[-2:])
    b4 = b.reshape(n, -1, *b.shape[-2:])

    def mean(v):  # patch means, one channel at a time
        flat = v.reshape(-1, 1, *v.shape[-2:])
        pooled = F.avg_pool2d(flat, window, stride=1)
        return pooled.reshape(n, v.shape[1], *pooled.shape[-2:])

    correction = window * window / (window * window - 1)  # sample (co)variances
    mu_a, mu_b = mean(a4), mean(b4)
    var_a = correction * (mean(a4 * a4) - mu_a * mu_a)
    var_b = correction * (mean(b4 * b4) - mu_b * mu_b)
    cov = correction * (mean(a4 * b4) - mu_a * mu_b)
    numerator = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    denominator = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return (numerator / denominator).flatten(1).mean(1)




# ---------------------------------------------------------------------------
# relevance rank accuracy (chapter 10)
# ---------------------------------------------------------------------------


def relevance_rank_accuracy(attributions, mask):
    """Share of the mask's pixels found among the map's K highest values, K = |mask|.

        RRA[n] = |top_K(a[n]) intersect mask[n]| / K,     K = number of pixels in mask[n]

    Arras, Osman & Samek 2022, "CLEVR-XAI: A benchmark dataset for the ground truth
    evaluation of neural network explanations" (Information Fusion). A map whose K
    largest values cover the mask exactly scores 1; a random map scores K / D on
    average (D pixels). Pixels are ranked by their signed value, most positive first
    (positive evidence, as in ``pointing_game``), ties broken by pixel index (a stable
    sort); multi-channel attributions are summed over channels first. An empty mask
    scores 0. Chapter 10.

    Args:
        attributions: (N, ...) or (N, C, ...) tensor.
        mask: boolean tensor (N, ...) or (N, 1, ...).

    Returns:
        (N,) tensor with values in [0, 1].
    """
    check_tensor(attributions, "attributions", min_dim=2)
    _check_mask(mask)
    values = _to_mask_shape(attributions.detach(), mask).flatten(1)
    inside = mask.to(values.device).flatten(1)
    k = inside.sum(dim=1)  # (N,)
    top = _ranks(values) < k[:, None]  # rank 0 = most positive
    found = (top & inside).sum(dim=1).to(values.dtype)
    return torch.where(k > 0, found / k.clamp(min=1), torch.zeros_like(found))


