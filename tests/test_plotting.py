import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from captum.attr._utils.visualization import _cumulative_sum_threshold  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from helpers.plotting import (  # noqa: E402
    clip_limit,
    contour_with_gradient_field,
    heatmap,
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
    except IndexError:  # Captum's threshold can round above the total at 0 %; the answer is the max
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
    assert ax.get_title() == "saliency" and ax.get_xticks().size == 0 and ax.get_yticks().size == 0
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
    maps = {"gradient": torch.randn(n, 1, h, w), "input x gradient": np.random.randn(n, h, w)}
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
        ax, lambda X, Y: X**2 + 3 * Y**2, lambda X, Y: (2 * X, 6 * Y), xlim=(-2, 2), ylim=(-1, 1), n_arrows=5
    )
    assert ax.get_xlabel() == "x₁" and ax.get_ylabel() == "x₂"
    assert len(fig.axes) == 2  # plus the colorbar
    np.testing.assert_allclose(arrows.U.reshape(5, 5)[0], 2 * np.linspace(-2, 2, 5))
    with pytest.raises(ValueError, match="xlim"):
        contour_with_gradient_field(ax, lambda X, Y: X, lambda X, Y: (X, Y), xlim=(1, 0), ylim=(0, 1))
    with pytest.raises(ValueError, match="pair"):
        contour_with_gradient_field(ax, lambda X, Y: X, lambda X, Y: (X, Y, X), xlim=(0, 1), ylim=(0, 1))
