"""Inputs at the edges of the contract: examples that are single numbers (x of shape
(N,)), and degenerate settings that must raise instead of returning NaN."""
import pytest
import torch

from helpers import attribution, metrics


def linear(z):
    return 3 * z  # one score per example; x of shape (N,)


X = torch.tensor([0.5, -1.0, 2.0, 0.25], dtype=torch.float64)


def test_occlusion_of_single_number_examples_is_leave_one_out():
    # window 1 on a linear model: S(x) - S(x with x_i -> 0) = 3 x_i
    torch.testing.assert_close(attribution.occlusion(linear, X, window=1), 3 * X)


def test_completeness_gap_takes_single_number_examples():
    gap = metrics.completeness_gap(linear, X, 3 * X)
    torch.testing.assert_close(gap, torch.zeros_like(X))


def test_deletion_and_insertion_take_single_number_examples():
    fractions, deleted = metrics.deletion_curve(linear, X, 3 * X, steps=1)
    torch.testing.assert_close(deleted[:, 0], 3 * X)
    torch.testing.assert_close(deleted[:, 1], torch.zeros_like(X))
    _, inserted = metrics.insertion_curve(linear, X, 3 * X, steps=1)
    torch.testing.assert_close(inserted[:, 1], 3 * X)


def test_ssim_rejects_a_zero_data_range():
    maps = torch.zeros(1, 5, 5)
    with pytest.raises(ValueError, match="data_range"):
        metrics.ssim(maps, maps, window=3, data_range=0)
    assert metrics.ssim(maps, maps, window=3, data_range=1.0).item() == pytest.approx(1.0)
