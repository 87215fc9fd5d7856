import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from captum.attr._utils.visualization import _cumulative_sum_threshold  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from matplotlib.path import Path  # noqa: E402

from helpers.plotting import (  # noqa: E402
    clip_limit,
    colour_scale,
    contour_with_gradient_field,
    heatmap,
    is_signed,
    mask_outline,
    method_grid,
    overlay,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([0.0, 1.0, 2.0, 5.0, 50.0]))
def test_clip_limit_matches_captum(seed, outlier_perc):
    rng = np.random.default_rng(seed)
    a = rng.standard_t(df=2, size=(8, 8))  # heavy tails: the clipping matters
    try:
        expected = _cumulative_sum_threshold(np.abs(a), 100 - outlier_perc)
    except IndexError:  # Captum's threshold can round above the total at 0 %:
        # the answer is the max
        assert outlier_perc == 0.0
        expected = np.abs(a).max()
    assert clip_limit(a, outlier_perc=outlier_perc) == pytest.approx(float(expected))
    from_tensor = clip_limit(torch.from_numpy(a).float(), outlier_perc=outlier_perc)
    assert from_tensor == pytest.approx(float(expected), rel=1e-6)


def test_clip_limit_edge_cases():
    assert clip_limit(np.zeros((3, 3))) == 1.0
    assert clip_limit(torch.tensor([[0.0, -4.0]]), outlier_perc=0.0) == 4.0
    with pytest.raises(ValueError, match="outlier_perc"):
        clip_limit(np.ones(3), outlier_perc=120)
    with pytest.raises(ValueError, match="finite"):
        clip_limit(np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="attribution must be"):
        clip_limit({"a": 1})


def test_heatmap_is_centred_at_zero_and_sums_channels():
    fig, ax = plt.subplots()
    a = torch.zeros(3, 4, 4, dtype=torch.bfloat16)
    a[0, 0, 0], a[1, 0, 0], a[2, 1, 1] = 2.0, 1.0, -0.5
    image = heatmap(ax, a, title="saliency")
    vmin, vmax = image.get_clim()
    assert vmin == -vmax and vmax > 0
    np.testing.assert_allclose(image.get_array()[0, 0], 3.0)
    assert ax.get_title() == "saliency"
    assert ax.get_xticks().size == 0 and ax.get_yticks().size == 0
    assert len(fig.axes) == 2  # the map and its colorbar
    with pytest.raises(ValueError, match=r"\(H, W\), \(1, H, W\) or \(C, H, W\)"):
        heatmap(ax, np.zeros(5))


def test_overlay_draws_grey_input_under_centred_map():
    fig, ax = plt.subplots()
    image = np.random.default_rng(0).random((1, 5, 5))
    attribution = np.random.default_rng(1).normal(size=(5, 5))
    shown = overlay(ax, image, attribution, alpha=0.4, title="overlay")
    assert len(ax.images) == 2 and ax.images[0].get_cmap().name == "gray"
    assert shown.get_alpha() == 0.4
    vmin, vmax = shown.get_clim()
    assert vmin == -vmax == -clip_limit(attribution)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="same \\(H, W\\)"):
        overlay(ax, image, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="alpha"):
        overlay(ax, image, attribution, alpha=2)


def test_method_grid_layout_titles_and_colorbars():
    n, h, w = 3, 6, 6
    images = torch.rand(n, 1, h, w)
    maps = {"gradient": torch.randn(n, 1, h, w),
            "input x gradient": np.random.randn(n, h, w)}
    fig = method_grid(images, maps, row_labels=["a", "b", "c"])
    image_axes = [ax for ax in fig.axes if ax.images]
    colorbars = [ax for ax in fig.axes if not ax.images]
    assert len(image_axes) == n * 3
    assert len(colorbars) == n * 2  # one per map
    titles = [ax.get_title() for ax in image_axes if ax.get_title()]
    assert titles == ["input", "gradient", "input x gradient"]
    assert [ax.get_ylabel() for ax in image_axes[::3]] == ["a", "b", "c"]
    for ax in image_axes:
        if ax.images[0].get_cmap().name != "gray":
            vmin, vmax = ax.images[0].get_clim()
            assert vmin == -vmax
    single = method_grid(images[:1, 0], {"m": maps["gradient"][:1]})
    assert len([ax for ax in single.axes if ax.images]) == 2


def test_method_grid_bad_inputs():
    images = torch.rand(2, 1, 4, 4)
    with pytest.raises(ValueError, match="maps\\['g'\\] has 1 examples"):
        method_grid(images, {"g": torch.zeros(1, 4, 4)})
    with pytest.raises(TypeError, match="maps must be a non-empty dict"):
        method_grid(images, [torch.zeros(2, 4, 4)])
    with pytest.raises(ValueError, match="row_labels"):
        method_grid(images, {"g": torch.zeros(2, 4, 4)}, row_labels=["only one"])


def test_contour_with_gradient_field():
    fig, ax = plt.subplots()
    filled, arrows = contour_with_gradient_field(
        ax, lambda X, Y: X**2 + 3 * Y**2, lambda X, Y: (2 * X, 6 * Y),
        xlim=(-2, 2), ylim=(-1, 1), n_arrows=5,
    )
    assert ax.get_xlabel() == "x₁" and ax.get_ylabel() == "x₂"
    assert len(fig.axes) == 2  # plus the colorbar
    np.testing.assert_allclose(arrows.U.reshape(5, 5)[0], 2 * np.linspace(-2, 2, 5))
    with pytest.raises(ValueError, match="xlim"):
        contour_with_gradient_field(ax, lambda X, Y: X, lambda X, Y: (X, Y),
                                    xlim=(1, 0), ylim=(0, 1))
    with pytest.raises(ValueError, match="pair"):
        contour_with_gradient_field(ax, lambda X, Y: X, lambda X, Y: (X, Y, X),
                                    xlim=(0, 1), ylim=(0, 1))


# --- colour scale from the data's sign, labelled colorbars, shared scales, outlines ---

def _colorbar_labels(fig):
    return [ax.get_ylabel() or ax.get_xlabel() for ax in fig.axes if not ax.images]


def test_signed_map_is_diverging_and_centred():
    fig, ax = plt.subplots()
    a = np.random.default_rng(2).normal(size=(6, 6))
    image = heatmap(ax, a)
    assert image.get_cmap().name == "RdBu_r" and is_signed(a)
    vmin, vmax = image.get_clim()
    assert vmin == -vmax == -clip_limit(a)
    assert _colorbar_labels(fig) == ["attribution"]


@pytest.mark.parametrize("make", [np.abs, np.square, lambda a: np.maximum(a, 0)])
def test_non_negative_map_is_sequential_from_zero(make):
    fig, ax = plt.subplots()
    a = make(np.random.default_rng(3).normal(size=(6, 6)))
    image = heatmap(ax, torch.from_numpy(a), label="|gradient|")
    assert image.get_cmap().name == "Reds" and not is_signed(a)
    vmin, vmax = image.get_clim()
    assert vmin == 0 and vmax == pytest.approx(clip_limit(a))
    assert _colorbar_labels(fig) == ["|gradient|"]


def test_colour_scale_edge_cases_and_overrides():
    assert colour_scale(np.zeros((2, 2))) == ("Reds", 0.0, 1.0)
    assert colour_scale(-np.ones((2, 2)))[0] == "RdBu_r"   # negative-only: signed
    assert colour_scale(np.ones((2, 2)), signed=True) == ("RdBu_r", -1.0, 1.0)
    fig, ax = plt.subplots()
    image = heatmap(ax, np.ones((3, 3)), limit=4.0, signed=True, colorbar=False)
    assert image.get_clim() == (-4.0, 4.0) and len(fig.axes) == 1
    assert heatmap(ax, np.ones((3, 3)), limit=4.0).get_clim() == (0.0, 4.0)
    with pytest.raises(ValueError, match="limit"):
        heatmap(ax, np.ones((3, 3)), limit=-1.0)


def test_overlay_picks_the_scale_from_the_sign():
    fig, ax = plt.subplots()
    image = np.random.default_rng(0).random((5, 5))
    shown = overlay(ax, image, np.abs(np.random.default_rng(1).normal(size=(5, 5))),
                    label="SmoothGrad²")
    assert shown.get_cmap().name == "Reds" and shown.get_clim()[0] == 0
    assert _colorbar_labels(fig) == ["SmoothGrad²"]


def _map_images(fig):
    return [ax.images[0] for ax in fig.axes
            if ax.images and ax.images[0].get_cmap().name != "gray"]


def test_method_grid_chooses_each_column_from_its_sign():
    images = torch.rand(2, 1, 5, 5)
    signed = torch.randn(2, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    fig = method_grid(images, {"gradient": signed, "|gradient|": signed.abs()})
    names = [image.get_cmap().name for image in _map_images(fig)]
    assert names == ["RdBu_r", "Reds", "RdBu_r", "Reds"]
    assert _colorbar_labels(fig) == ["attribution"] * 4


def test_method_grid_shared_scale():
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(3, 1, 5, 5, generator=gen)
    maps = {"a": torch.randn(3, 5, 5, generator=gen),
            "b": 10 * torch.randn(3, 5, 5, generator=gen)}
    fig = method_grid(images, maps, shared_scale=True, label="dS/dx")
    clims = {image.get_clim() for image in _map_images(fig)}
    everything = torch.cat([maps["a"].flatten(), maps["b"].flatten()])
    assert clims == {(-clip_limit(everything), clip_limit(everything))}
    assert _colorbar_labels(fig) == ["dS/dx (one scale for all maps)"]   # one colorbar
    fig = method_grid(images, {"a": maps["a"], "|b|": maps["b"].abs()},
                      shared_scale="column")
    per_column = [image.get_clim() for image in _map_images(fig)]
    assert per_column[0::2] == [(-clip_limit(maps["a"]), clip_limit(maps["a"]))] * 3
    assert per_column[1::2] == [(0.0, pytest.approx(clip_limit(maps["b"].abs())))] * 3
    assert len(_colorbar_labels(fig)) == 2
    with pytest.raises(ValueError, match="shared_scale"):
        method_grid(images, maps, shared_scale="row")


def _outline_vertices(lines):
    return np.concatenate([seg for seg in lines.allsegs[0] if len(seg)])


def test_mask_outline_runs_outside_a_one_pixel_stroke():
    mask = np.zeros((7, 7), dtype=bool)
    mask[1:6, 3] = True                              # a one-pixel-wide vertical stroke
    mask[3, 1:6] = True                              # crossed by a horizontal one
    fig, ax = plt.subplots()
    ax.imshow(mask, cmap="gray")
    lines = mask_outline(ax, mask, offset=0.25)
    vertices = _outline_vertices(lines)
    rows, cols = np.nonzero(mask)
    # Distance (max norm) from every vertex to every mask pixel's square: never inside.
    dx = np.abs(vertices[:, None, 0] - cols[None, :]) - 0.5
    dy = np.abs(vertices[:, None, 1] - rows[None, :]) - 0.5
    outside_by = np.maximum(dx, dy).min(axis=1)
    assert outside_by.min() > 0.2
    # ... and it encloses every pixel of the mask (the path winds around each centre).
    path = Path(vertices)
    assert all(path.contains_point((c, r)) for r, c in zip(rows, cols))
    assert ax.get_xlim() == (-0.5, 6.5)              # the image's extent is kept
    with pytest.raises(ValueError, match="offset"):
        mask_outline(ax, mask, offset=2)


def test_method_grid_draws_outlines_on_every_panel():
    masks = torch.zeros(2, 1, 6, 6, dtype=torch.bool)
    masks[:, :, 2:4, 2:4] = True
    fig = method_grid(torch.rand(2, 1, 6, 6), {"g": torch.randn(2, 6, 6)}, masks=masks)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 4 and all(ax.collections for ax in panels)
    with pytest.raises(ValueError, match="one mask per example"):
        method_grid(torch.rand(2, 1, 6, 6), {"g": torch.randn(2, 6, 6)},
                    masks=masks[:1])
