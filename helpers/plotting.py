"""Honest attribution pictures: diverging colormaps centred at 0 with a
symmetric, outlier-robust limit, and the figures the chapters share.

Every function accepts torch tensors (any device/dtype) or numpy arrays, draws
on the axes it is given (or on a new figure it returns), sets its own titles
and labels, never calls ``plt.show()`` and never changes global rcParams.
"""

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["clip_limit", "heatmap", "overlay", "method_grid", "contour_with_gradient_field"]


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
        raise TypeError(f"{name} must be a torch tensor or a numeric array, got {kind}") from None
    return array


def _to_2d(array, name):
    """(H, W) as is; (1, H, W) or (C, H, W) summed over the channel axis."""
    array = _to_numpy(array, name)
    if array.ndim == 3:
        return array.sum(axis=0)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (H, W), (1, H, W) or (C, H, W), got {array.shape}")
    return array


def _to_grey(image, name):
    """(H, W) as is; (1, H, W) or (C, H, W) averaged over channels (a grey picture)."""
    image = _to_numpy(image, name)
    if image.ndim == 3:
        return image.mean(axis=0)
    if image.ndim != 2:
        raise ValueError(f"{name} must have shape (H, W), (1, H, W) or (C, H, W), got {image.shape}")
    return image


def _check_percentage(outlier_perc):
    if not 0 <= outlier_perc <= 100:
        raise ValueError(f"outlier_perc must be a percentage in [0, 100], got {outlier_perc}")


def clip_limit(attribution, *, outlier_perc=2.0):
    """The symmetric colour limit v of an attribution map.

        v = min { t in |a| : sum_{|a_i| <= t} |a_i| >= (1 - outlier_perc / 100) * sum_i |a_i| }

    so at most ``outlier_perc`` % of the total |attribution| mass lies beyond
    the limit and is clipped: a few extreme pixels cannot wash out the rest of
    the map. This is the cumulative-sum threshold of Captum's visualisation
    (``captum.attr._utils.visualization._cumulative_sum_threshold``; Kokhlikyan
    et al. 2020, arXiv:2009.07896); the maps are then drawn on [-v, v].
    Used in chapter 02.

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
    # Rounding can put the threshold a hair above the total (outlier_perc = 0): take the max.
    return float(ordered[min(first, ordered.size - 1)])


def _colorbar(ax, mappable):
    return ax.figure.colorbar(mappable, ax=ax, fraction=0.046, pad=0.04)


def _no_ticks(ax):
    ax.set_xticks([])
    ax.set_yticks([])


def heatmap(ax, attribution, *, title=None, outlier_perc=2.0, colorbar=True, cmap="RdBu_r"):
    """Draw an attribution map with a diverging colormap centred at 0.

    Colours span [-v, v] with v = ``clip_limit(attribution, outlier_perc)``,
    so white means 0, red positive and blue negative evidence (for "RdBu_r").
    Multi-channel maps (C, H, W) are summed over channels (the signed total
    evidence of a pixel); (1, H, W) and (H, W) are drawn as they are.
    Simonyan et al. 2014 (ICLR workshop) introduced such maps for the
    gradient. Used in chapters 01, 02, 04 and 06–09.

    Returns:
        the AxesImage.
    """
    values = _to_2d(attribution, "attribution")
    limit = clip_limit(values, outlier_perc=outlier_perc)
    image = ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    _no_ticks(ax)
    if title is not None:
        ax.set_title(title)
    if colorbar:
        _colorbar(ax, image)
    return image


def overlay(ax, image, attribution, *, alpha=0.6, title=None, outlier_perc=2.0, colorbar=True, cmap="RdBu_r"):
    """Draw the input in grey with a semi-transparent attribution map on top.

    The map is centred at 0 on [-v, v], v = ``clip_limit`` (as in `heatmap`);
    ``alpha`` is the map's opacity. Multi-channel images are averaged to grey,
    multi-channel maps summed over channels.

    Returns:
        the AxesImage of the attribution map.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be an opacity in [0, 1], got {alpha}")
    grey = _to_grey(image, "image")
    values = _to_2d(attribution, "attribution")
    if grey.shape != values.shape:
        raise ValueError(
            f"image and attribution must have the same (H, W), got {grey.shape} and {values.shape}"
        )
    ax.imshow(grey, cmap="gray", interpolation="nearest")
    limit = clip_limit(values, outlier_perc=outlier_perc)
    shown = ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit, alpha=alpha, interpolation="nearest")
    _no_ticks(ax)
    if title is not None:
        ax.set_title(title)
    if colorbar:
        _colorbar(ax, shown)
    return shown


def method_grid(images, maps, *, row_labels=None, outlier_perc=2.0, figsize=None):
    """A grid of maps: one row per example, the input first, then one column per method.

    Each map is centred at 0 with its own symmetric limit (`clip_limit`) and its
    own colorbar. A colorbar shared by a row is not used on purpose: methods
    have different units and scales (a gradient vs. Input x Gradient vs. a
    Grad-CAM map), so one common scale would leave most maps white.
    Used in chapters 02–05, 07 and 08 (related methods side by side).

    Args:
        images: (N, 1, H, W), (N, C, H, W) (averaged to grey) or (N, H, W).
        maps: dict {method name: tensor/array of shape (N, H, W) or (N, C, H, W)}.
        row_labels: optional list of N strings (e.g. "label 3") shown left of each row.
        outlier_perc: passed to `clip_limit`.
        figsize: default (2.4 * columns, 2.2 * rows).

    Returns:
        a matplotlib Figure made with pyplot, so a notebook shows it at the
        end of the cell; assign it (``fig = method_grid(...)``) rather than
        leaving it as the cell's last value, which would show it twice.
    """
    images = _to_numpy(images, "images")
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W) or (N, C, H, W), got {images.shape}")
    if not isinstance(maps, dict) or not maps:
        raise TypeError("maps must be a non-empty dict {method name: attributions of shape (N, ...)}")
    n = images.shape[0]
    maps = {name: _to_numpy(value, f"maps[{name!r}]") for name, value in maps.items()}
    for name, value in maps.items():
        if value.shape[0] != n:
            raise ValueError(f"maps[{name!r}] has {value.shape[0]} examples, images has {n}")
    if row_labels is not None and len(row_labels) != n:
        raise ValueError(f"row_labels must have one label per example ({n}), got {len(row_labels)}")
    columns = 1 + len(maps)
    figsize = figsize or (2.4 * columns, 2.2 * n)
    fig, axes = plt.subplots(n, columns, figsize=figsize, squeeze=False, layout="constrained")
    for row in range(n):
        ax = axes[row, 0]
        ax.imshow(_to_grey(images[row], "images[n]"), cmap="gray", interpolation="nearest")
        _no_ticks(ax)
        if row_labels is not None:
            ax.set_ylabel(str(row_labels[row]))
        for ax, value in zip(axes[row, 1:], maps.values()):
            heatmap(ax, value[row], outlier_perc=outlier_perc)
    for ax, name in zip(axes[0], ["input", *maps]):
        ax.set_title(name)
    return fig


def contour_with_gradient_field(ax, f, grad_f, *, xlim, ylim, n_contour=100, n_arrows=15, levels=20):
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
            raise ValueError(f"{name} must be a pair (low, high) with low < high, got {limits}")
    X, Y = np.meshgrid(np.linspace(*xlim, n_contour), np.linspace(*ylim, n_contour))
    Z = np.broadcast_to(_to_numpy(f(X, Y), "f(X, Y)"), X.shape)
    filled = ax.contourf(X, Y, Z, levels=levels, cmap="viridis")
    ax.figure.colorbar(filled, ax=ax, label="f(x₁, x₂)")
    Xa, Ya = np.meshgrid(np.linspace(*xlim, n_arrows), np.linspace(*ylim, n_arrows))
    gradient = grad_f(Xa, Ya)
    if len(gradient) != 2:
        raise ValueError(f"grad_f(X, Y) must return a pair (dZ/dx, dZ/dy), got {len(gradient)} items")
    U, V = (np.broadcast_to(_to_numpy(g, "grad_f(X, Y)"), Xa.shape) for g in gradient)
    arrows = ax.quiver(Xa, Ya, U, V, color="white", angles="xy")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_aspect("equal")
    return filled, arrows
