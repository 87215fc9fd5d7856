"""Honest attribution pictures: a colour scale chosen from the map's sign (diverging and
centred at 0 for signed maps, sequential from 0 for non-negative ones) with an
outlier-robust limit, labelled colorbars, and the figures the chapters share.

Every function accepts torch tensors (any device/dtype) or numpy arrays, draws
on the axes it is given (or on a new figure it returns), sets its own titles
and labels, never calls ``plt.show()`` and never changes global rcParams.
"""

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "clip_limit", "is_signed", "colour_scale", "heatmap", "overlay", "mask_outline",
    "method_grid", "contour_with_gradient_field",
]


def _to_numpy(array, name):
    """A tensor (any device, any float dtype) or array-like -> a float numpy array."""
    if hasattr(array, "detach"):  # a torch tensor, without importing torch here
        array = array.detach().cpu()
        if not array.is_floating_point() or array.element_size() < 4:
            array = array.float()  # numpy has no bfloat16; ints become floats
        array = array.numpy()
    try:
        array = np.asarray(array, dtype=float)
    except (TypeError, ValueError):
        kind = type(array).__name__
        raise TypeError(
            f"{name} must be a torch tensor or a numeric array, got {kind}"
        ) from None
    return array


def _to_2d(array, name):
    """(H, W) as is; (1, H, W) or (C, H, W) summed over the channel axis."""
    array = _to_numpy(array, name)
    if array.ndim == 3:
        return array.sum(axis=0)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must have shape (H, W), (1, H, W) or (C, H, W), got {array.shape}"
        )
    return array


def _to_grey(image, name):
    """(H, W) as is; (1, H, W) or (C, H, W) averaged over channels (a grey picture)."""
    image = _to_numpy(image, name)
    if image.ndim == 3:
        return image.mean(axis=0)
    if image.ndim != 2:
        raise ValueError(
            f"{name} must have shape (H, W), (1, H, W) or (C, H, W), got {image.shape}"
        )
    return image


def _check_percentage(outlier_perc):
    if not 0 <= outlier_perc <= 100:
        raise ValueError(
            f"outlier_perc must be a percentage in [0, 100], got {outlier_perc}"
        )


def clip_limit(attribution, *, outlier_perc=2.0):
    """The symmetric colour limit v of an attribution map.

        v = min { t in |a| : sum_{|a_i| <= t} |a_i|
                             >= (1 - outlier_perc / 100) * sum_i |a_i| }

    so at most ``outlier_perc`` % of the total |attribution| mass lies beyond
    the limit and is clipped: a few extreme pixels cannot wash out the rest of
    the map. This is the cumulative-sum threshold of Captum's visualisation
    (``captum.attr._utils.visualization._cumulative_sum_threshold``; Kokhlikyan
    et al. 2020, arXiv:2009.07896); the maps are then drawn on [-v, v].
    Used in chapters 02, 05 and 07.

    Returns:
        float; 1.0 for an all-zero map (a degenerate colour scale otherwise).
    """
    _check_percentage(outlier_perc)
    magnitude = np.abs(_to_numpy(attribution, "attribution")).ravel()
    if magnitude.size == 0 or not np.all(np.isfinite(magnitude)):
        raise ValueError("attribution must be a non-empty array of finite numbers")
    if magnitude.sum() == 0:
        return 1.0
    ordered = np.sort(magnitude)
    mass = np.cumsum(ordered)
    first = np.searchsorted(mass, mass[-1] * 0.01 * (100 - outlier_perc), side="left")
    # Rounding can put the threshold a hair above the total (outlier_perc = 0):
    # take the max.
    return float(ordered[min(first, ordered.size - 1)])


SIGNED_CMAP = "RdBu_r"   # diverging: blue < 0 < red, white at 0
UNSIGNED_CMAP = "Reds"   # sequential: white at 0, darker red for more


def is_signed(attribution):
    """True if the map has a negative value (drawn on a diverging colormap centred
    at 0), False if it is non-negative, like |gradient|, SmoothGrad², VarGrad or
    Grad-CAM (drawn on a sequential colormap starting at 0)."""
    return bool(np.min(_to_numpy(attribution, "attribution")) < 0)


def colour_scale(attribution, *, outlier_perc=2.0, signed=None):
    """(cmap, vmin, vmax) for a map or a stack of maps that share one scale.

        signed map:        "RdBu_r" on [-v, v]     (white = 0)
        non-negative map:  "Reds"   on [0, v]      (white = 0)

    with v = ``clip_limit(attribution, outlier_perc)``. ``signed=None`` decides
    from the data (`is_signed`); pass True/False to force one kind. Used in
    chapter 01 (one scale for several maps drawn with `heatmap`'s ``limit``).
    """
    signed = is_signed(attribution) if signed is None else bool(signed)
    limit = clip_limit(attribution, outlier_perc=outlier_perc)
    if signed:
        return SIGNED_CMAP, -limit, limit
    return UNSIGNED_CMAP, 0.0, limit


def _check_limit(limit):
    if limit is not None and not (np.isfinite(limit) and limit > 0):
        raise ValueError(f"limit must be a positive finite number or None, got {limit}")


def _scale(values, outlier_perc, cmap, limit, signed):
    """The colormap and limits of one map: from its data unless told otherwise."""
    _check_limit(limit)
    auto_cmap, vmin, vmax = colour_scale(values, outlier_perc=outlier_perc,
                                         signed=signed)
    if limit is not None:
        vmin, vmax = (-limit if vmin < 0 else 0.0), float(limit)
    return cmap or auto_cmap, vmin, vmax


def _colorbar(ax, mappable, label):
    bar = ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.04)
    if label:
        bar.set_label(label)
    return bar


def _no_ticks(ax):
    ax.set_xticks([])
    ax.set_yticks([])


def heatmap(ax, attribution, *, title=None, outlier_perc=2.0, colorbar=True, cmap=None,
            label="attribution", limit=None, signed=None):
    """Draw an attribution map on a colour scale chosen from its sign.

    A signed map is drawn on a diverging colormap centred at 0, on [-v, v]:
    white means 0, red positive and blue negative evidence. A non-negative map
    (|gradient|, SmoothGrad², VarGrad, Grad-CAM) is drawn on a sequential
    colormap on [0, v], white at 0. v = ``clip_limit(attribution,
    outlier_perc)`` unless ``limit`` gives it (one scale shared by several maps).
    ``signed`` forces the kind (None: decided from the data, `is_signed`);
    ``cmap`` overrides the colormap. The colorbar carries ``label``.
    Multi-channel maps (C, H, W) are summed over channels (the signed total
    evidence of a pixel); (1, H, W) and (H, W) are drawn as they are.
    Simonyan et al. 2014 (ICLR workshop) introduced such maps for the
    gradient. Used in chapters 01, 02, 04, 07, 08 and 11.

    Returns:
        the AxesImage.
    """
    values = _to_2d(attribution, "attribution")
    cmap, vmin, vmax = _scale(values, outlier_perc, cmap, limit, signed)
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    _no_ticks(ax)
    if title is not None:
        ax.set_title(title)
    if colorbar:
        _colorbar(ax, image, label)
    return image


def overlay(ax, image, attribution, *, alpha=0.6, title=None, outlier_perc=2.0,
            colorbar=True, cmap=None, label="attribution", limit=None, signed=None):
    """Draw the input in grey with a semi-transparent attribution map on top.

    The map's colour scale is chosen from its sign as in `heatmap` (diverging
    on [-v, v] if signed, sequential on [0, v] if non-negative); ``alpha`` is
    the map's opacity. Multi-channel images are averaged to grey,
    multi-channel maps summed over channels. No chapter uses it yet; it is
    offered for readers' own images.

    Returns:
        the AxesImage of the attribution map.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be an opacity in [0, 1], got {alpha}")
    grey = _to_grey(image, "image")
    values = _to_2d(attribution, "attribution")
    if grey.shape != values.shape:
        raise ValueError(
            "image and attribution must have the same (H, W), "
            f"got {grey.shape} and {values.shape}"
        )
    ax.imshow(grey, cmap="gray", interpolation="nearest")
    cmap, vmin, vmax = _scale(values, outlier_perc, cmap, limit, signed)
    shown = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, alpha=alpha,
                      interpolation="nearest")
    _no_ticks(ax)
    if title is not None:
        ax.set_title(title)
    if colorbar:
        _colorbar(ax, shown, label)
    return shown


def mask_outline(ax, mask, *, color="tab:orange", linewidth=0.8, alpha=0.8,
                 offset=0.25):
    """Outline a boolean mask (H, W) drawn by ``imshow`` without hiding it.

    The line runs ``offset`` pixels *outside* the mask's pixel edges (the mask
    is upsampled 4x and grown by ``offset``), thin and semi-transparent, so
    even a one-pixel-wide stroke stays fully visible inside its outline.

    Returns:
        the ContourSet (empty if the mask is empty).
    Used in chapters 00, 02, 05, 07 and 08.
    """
    mask = _to_2d(mask, "mask") > 0.5
    if not 0 <= offset <= 0.5:
        raise ValueError(f"offset must be in [0, 0.5] pixels, got {offset}")
    factor = 4
    fine = np.kron(mask, np.ones((factor, factor), dtype=bool))
    grow = int(round(offset * factor))
    padded = np.pad(fine, grow + 1)
    grown = padded.copy()
    for dy in range(-grow, grow + 1):          # a square dilation by `grow` sub-pixels
        for dx in range(-grow, grow + 1):
            grown |= np.roll(np.roll(padded, dy, axis=0), dx, axis=1)
    h, w = grown.shape
    # sub-pixel k of the padded grid has its centre at
    # (k - grow - 1 + 0.5) / factor - 0.5 in pixel coordinates
    xs = (np.arange(w) - grow - 1 + 0.5) / factor - 0.5
    ys = (np.arange(h) - grow - 1 + 0.5) / factor - 0.5
    limits = ax.get_xlim(), ax.get_ylim()
    lines = ax.contour(xs, ys, grown.astype(float), levels=[0.5], colors=[color],
                       linewidths=linewidth, alpha=alpha)
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    return lines


def _grid_scales(maps, shared_scale, outlier_perc):
    """{name: (cmap, vmin, vmax) or None (each map its own scale)}."""
    if shared_scale is False or shared_scale is None:
        return {name: None for name in maps}
    if shared_scale == "column":
        return {name: colour_scale(value, outlier_perc=outlier_perc)
                for name, value in maps.items()}
    if shared_scale is True:
        everything = np.concatenate([value.ravel() for value in maps.values()])
        scale = colour_scale(everything, outlier_perc=outlier_perc)
        return {name: scale for name in maps}
    raise ValueError(
        f"shared_scale must be False, True or 'column', got {shared_scale!r}"
    )


def method_grid(images, maps, *, row_labels=None, outlier_perc=2.0, figsize=None,
                shared_scale=False, masks=None, label="attribution"):
    """A grid of maps: one row per example, the input first, then one column per method.

    Each map's colour scale is chosen from its sign (`heatmap`): diverging and
    centred at 0 for signed maps, sequential from 0 for non-negative ones.
    ``shared_scale`` says which maps share one scale and one colorbar:

    - False (default): each map its own limit and colorbar. Methods have
      different units (a gradient vs. Input x Gradient vs. Grad-CAM), so one
      common scale could leave most maps white (say so in the title).
    - "column": one scale per method, shared down the column (compare examples).
    - True: one scale for every map (compare methods by eye; same units only).

    ``masks`` (N, H, W) or (N, 1, H, W) outlines each example's ground-truth
    region on the input and on every map with `mask_outline` (outside the
    mask, thin and semi-transparent, so it never hides what it outlines).
    Colorbars carry ``label``. Used in chapters 02–04, 07 and 08.

    Args:
        images: (N, 1, H, W), (N, C, H, W) (averaged to grey) or (N, H, W).
        maps: dict {method name: tensor/array of shape (N, H, W) or (N, C, H, W)}.
        row_labels: optional list of N strings (e.g. "label 3") shown left of each row.
        outlier_perc: passed to `clip_limit`.
        figsize: default (2.4 * columns, 2.2 * rows).
        shared_scale: False, "column" or True (see above).
        masks: optional boolean masks, one per example.
        label: the colorbars' label.

    Returns:
        a matplotlib Figure made with pyplot, so a notebook shows it at the
        end of the cell; assign it (``fig = method_grid(...)``) rather than
        leaving it as the cell's last value, which would show it twice.
    """
    images = _to_numpy(images, "images")
    if images.ndim not in (3, 4):
        raise ValueError(
            f"images must have shape (N, H, W) or (N, C, H, W), got {images.shape}"
        )
    if not isinstance(maps, dict) or not maps:
        raise TypeError(
            "maps must be a non-empty dict "
            "{method name: attributions of shape (N, ...)}"
        )
    n = images.shape[0]
    maps = {name: _to_numpy(value, f"maps[{name!r}]") for name, value in maps.items()}
    for name, value in maps.items():
        if value.shape[0] != n:
            raise ValueError(
                f"maps[{name!r}] has {value.shape[0]} examples, images has {n}"
            )
    if row_labels is not None and len(row_labels) != n:
        raise ValueError(
            f"row_labels must have one label per example ({n}), got {len(row_labels)}"
        )
    if masks is not None:
        masks = _to_numpy(masks, "masks")
        if masks.shape[0] != n:
            raise ValueError(
                f"masks must have one mask per example ({n}), got {masks.shape[0]}"
            )
    scales = _grid_scales(maps, shared_scale, outlier_perc)
    columns = 1 + len(maps)
    figsize = figsize or (2.4 * columns, 2.2 * n)
    fig, axes = plt.subplots(n, columns, figsize=figsize, squeeze=False,
                             layout="constrained")
    shown = {}
    for row in range(n):
        ax = axes[row, 0]
        grey = _to_grey(images[row], "images[n]")
        ax.imshow(grey, cmap="gray", interpolation="nearest")
        _no_ticks(ax)
        if row_labels is not None:
            ax.set_ylabel(str(row_labels[row]))
        for ax, (name, value) in zip(axes[row, 1:], maps.items()):
            scale = scales[name]
            if scale is None:
                heatmap(ax, value[row], outlier_perc=outlier_perc, label=label)
            else:
                cmap, vmin, vmax = scale
                values = _to_2d(value[row], f"maps[{name!r}]")
                shown[name] = ax.imshow(values, cmap=cmap,
                                        vmin=vmin, vmax=vmax, interpolation="nearest")
                _no_ticks(ax)
        if masks is not None:
            for ax in axes[row]:
                mask_outline(ax, masks[row])
    for ax, name in zip(axes[0], ["input", *maps]):
        ax.set_title(name)
    if shared_scale is True:
        bar = fig.colorbar(next(iter(shown.values())), ax=axes[:, 1:], shrink=0.8)
        bar.set_label(f"{label} (one scale for all maps)")
    elif shared_scale == "column":
        for j, name in enumerate(maps, start=1):
            bar = fig.colorbar(shown[name], ax=axes[:, j], location="bottom",
                               shrink=0.8)
            bar.set_label(label)
    return fig


def contour_with_gradient_field(ax, f, grad_f, *, xlim, ylim, n_contour=100,
                                n_arrows=15, levels=20):
    """Filled contours of f: R^2 -> R with its gradient field drawn as arrows.

        arrows at (x1, x2) = grad f(x1, x2) = (df/dx1, df/dx2)

    The gradient points uphill, perpendicular to the level sets (the axes
    use an equal aspect so that this is visible). Cauchy 1847 ("Méthode
    générale pour la résolution des systèmes d'équations simultanées",
    Comptes rendus) for gradient descent. Used in chapter 01.

    Args:
        f: f(X, Y) -> Z on numpy meshgrids.
        grad_f: grad_f(X, Y) -> (dZ/dx, dZ/dy) on numpy meshgrids.
        xlim, ylim: (low, high) ranges of x1 and x2.
        n_contour: grid points per axis for the contours.
        n_arrows: arrows per axis (a coarser grid, so arrows stay readable).
        levels: number of contour levels.

    Returns:
        (contour set, quiver).
    """
    if not (callable(f) and callable(grad_f)):
        raise TypeError("f and grad_f must be callables of two numpy meshgrids (X, Y)")
    for name, limits in (("xlim", xlim), ("ylim", ylim)):
        if len(limits) != 2 or not limits[0] < limits[1]:
            raise ValueError(
                f"{name} must be a pair (low, high) with low < high, got {limits}"
            )
    X, Y = np.meshgrid(np.linspace(*xlim, n_contour), np.linspace(*ylim, n_contour))
    Z = np.broadcast_to(_to_numpy(f(X, Y), "f(X, Y)"), X.shape)
    filled = ax.contourf(X, Y, Z, levels=levels, cmap="viridis")
    ax.figure.colorbar(filled, ax=ax, label="f(x₁, x₂)")
    Xa, Ya = np.meshgrid(np.linspace(*xlim, n_arrows), np.linspace(*ylim, n_arrows))
    gradient = grad_f(Xa, Ya)
    if len(gradient) != 2:
        raise ValueError(
            "grad_f(X, Y) must return a pair (dZ/dx, dZ/dy), "
            f"got {len(gradient)} items"
        )
    U, V = (np.broadcast_to(_to_numpy(g, "grad_f(X, Y)"), Xa.shape) for g in gradient)
    arrows = ax.quiver(Xa, Ya, U, V, color="white", angles="xy")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_aspect("equal")
    return filled, arrows
