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
        total = attributions.detach().flatten(1).sum(dim=1)
    return total - change


# ---------------------------------------------------------------------------
# deletion / insertion (chapter 09)
# ---------------------------------------------------------------------------

def _ranks(attributions):
    """rank[n, i] = position of feature i when example n is sorted, most positive first.

    A stable sort breaks ties by feature index, so the order is deterministic."""
    flat = attributions.detach().flatten(1)
    order = torch.sort(flat, dim=1, descending=True, stable=True).indices
    positions = torch.arange(flat.shape[1], device=flat.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, positions)


def _perturbation_curve(model, x, attributions, target, baseline, steps, *, insert):
    check_model(model)
    check_same_shape(x, attributions)
    steps = check_int(steps, "steps")
    n, d = x.shape[0], x[0].numel()
    reference = baseline_like(baseline, x).flatten(1)
    ranks = _ranks(attributions)                                      # (N, D)
    # k_j = floor(j * D / steps) features are switched after step j.
    k = torch.arange(steps + 1, device=x.device) * d // steps          # (steps+1,)
    switched = ranks[None] < k[:, None, None]                          # (steps+1, N, D)
    start, end = (reference, x.flatten(1)) if insert else (x.flatten(1), reference)
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
    it to compare maps before and after randomising the model. Used in chapters 03
    and 09.

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
    destroyed cannot be explaining the model. Used in chapter 09.

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
    signs of different channels cannot cancel). Used in chapters 03 and 07–09.

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
    the heatmaps. Used in chapters 08 and 09.

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

__all__.append("controls")


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
    control is ``helpers.models.untrained(name, seed)``. Chapters 09 and 10.

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
    noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device="cpu")
    return {
        "x": x.clone(),
        "x²": x.square(),
        f"|x|^{p:g}": x.abs().pow(p),
        "edges": _sobel_magnitude(x),
        "random": noise.to(x.device),
    }
