"""helpers.metrics.controls: the model-free control maps."""
import pytest
import torch

from helpers import metrics


def test_names_shapes_and_pointwise_maps():
    x = torch.rand(3, 2, 6, 7, generator=torch.Generator().manual_seed(0)) - 0.3
    maps = metrics.controls(x, p=2.5, generator=torch.Generator().manual_seed(1))
    assert list(maps) == ["x", "x²", "|x|^2.5", "edges", "random"]
    assert all(m.shape == x.shape for m in maps.values())
    torch.testing.assert_close(maps["x"], x)
    torch.testing.assert_close(maps["x²"], x * x)
    torch.testing.assert_close(maps["|x|^2.5"], x.abs() ** 2.5)
    assert 0 <= maps["random"].min() and maps["random"].max() < 1


def test_edges_of_a_step_and_of_a_constant():
    # a vertical step of height 1: the Sobel magnitude is 1/2 on the two columns
    # beside the step (central difference / 2, smoothed with weights summing to 1)
    x = torch.zeros(1, 1, 5, 6)
    x[..., 3:] = 1.0
    edges = metrics.controls(x)["edges"][0, 0]
    torch.testing.assert_close(edges[:, 2:4], torch.full((5, 2), 0.5))
    assert edges[:, [0, 1, 4, 5]].abs().max() == 0
    assert metrics.controls(torch.full((2, 1, 4, 4), 0.7))["edges"].abs().max() < 1e-6


def test_edges_turn_with_the_image():
    # the edge map of an image turned by 180 degrees is the edge map turned: the
    # property that puts it at chance on the synthetic set (data/README.md)
    x = torch.rand(4, 1, 9, 9, generator=torch.Generator().manual_seed(2))
    turned = metrics.controls(x.flip(-1, -2))["edges"]
    torch.testing.assert_close(turned, metrics.controls(x)["edges"].flip(-1, -2))


def test_random_map_follows_the_generator_and_leaves_x_alone():
    x = torch.rand(2, 1, 5, 5)
    before = x.clone()
    a = metrics.controls(x, generator=torch.Generator().manual_seed(3))["random"]
    b = metrics.controls(x, generator=torch.Generator().manual_seed(3))["random"]
    assert torch.equal(a, b) and torch.equal(x, before)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(x=torch.rand(4, 4)), ValueError, "x must have at least 4"),
    (dict(x=torch.ones(1, 1, 3, 3, dtype=torch.int64)), TypeError, "floating-point"),
    (dict(x=[[1.0]]), TypeError, "x must be a torch.Tensor"),
    (dict(x=torch.rand(1, 1, 3, 3), p=0.5), ValueError, "p must be"),
    (dict(x=torch.rand(1, 1, 3, 3), generator=0), TypeError, "generator must be"),
])
def test_bad_arguments(kwargs, error, match):
    x = kwargs.pop("x")
    with pytest.raises(error, match=match):
        metrics.controls(x, **kwargs)
