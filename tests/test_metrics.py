import copy

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.metrics import (
    area_under_curve,
    cascading_randomization,
    completeness_gap,
    deletion_curve,
    insertion_curve,
    mask_mass,
    pointing_game,
    spearman,
)


def linear_model(d=4, classes=3, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(d, classes)
    return model.double().eval()


def input_x_gradient_by_hand(model, x, target):
    # For a linear model the gradient of class t is its weight row: a_i = w_ti x_i.
    return model.weight.detach()[target] * x


# ---------------------------------------------------------------- completeness

def test_completeness_gap_is_zero_for_input_x_gradient_of_linear_model_with_bias():
    model = linear_model()
    x = torch.randn(5, 4, dtype=torch.float64)
    target = torch.tensor([0, 1, 2, 0, 1])
    attributions = input_x_gradient_by_hand(model, x, target)
    gap = completeness_gap(model, x, attributions, target)
    torch.testing.assert_close(gap, torch.zeros(5, dtype=torch.float64))


def test_completeness_gap_measures_the_missing_part():
    model = linear_model()
    x = torch.randn(2, 4, dtype=torch.float64)
    zeros = torch.zeros_like(x)
    # all-zero attributions miss the whole change S(x) - S(0) = w_t . x
    gap = completeness_gap(model, x, zeros, 1)
    torch.testing.assert_close(gap, -(x @ model.weight.detach()[1]))
    # with a baseline b the change is w_t . (x - b)
    gap = completeness_gap(model, x, zeros, 1, baseline=0.5)
    torch.testing.assert_close(gap, -((x - 0.5) @ model.weight.detach()[1]))
    base = torch.full((4,), 0.5, dtype=torch.float64)
    torch.testing.assert_close(completeness_gap(model, x, zeros, 1, baseline=base), gap)


def test_completeness_gap_single_output_model_and_no_grad():
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0)).eval()  # (N,) scores
    x = torch.randn(4, 3, requires_grad=True)
    attributions = torch.zeros(4, 3)
    gap = completeness_gap(model, x, attributions)
    assert gap.shape == (4,) and not gap.requires_grad
    assert x.grad is None


def test_completeness_gap_bad_inputs():
    model = linear_model()
    x = torch.randn(2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="attributions must have the same shape"):
        completeness_gap(model, x, torch.zeros(2, 3, dtype=torch.float64), 0)
    with pytest.raises(ValueError, match="pass target"):
        completeness_gap(model, x, torch.zeros_like(x))
    with pytest.raises(ValueError, match="target out of range"):
        completeness_gap(model, x, torch.zeros_like(x), 7)
    with pytest.raises(ValueError, match=r"length 2\)"):
        completeness_gap(model, x, torch.zeros_like(x), torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="target must be an integer tensor"):
        completeness_gap(model, x, torch.zeros_like(x), torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        completeness_gap(model, x.numpy(), torch.zeros_like(x), 0)
    with pytest.raises(ValueError, match="does not broadcast"):
        completeness_gap(model, x, torch.zeros_like(x), 0, baseline=torch.zeros(3))
    with pytest.raises(TypeError, match="baseline must be"):
        completeness_gap(model, x, torch.zeros_like(x), 0, baseline="zeros")


# ---------------------------------------------------------------- deletion / insertion

class SumModel(torch.nn.Module):
    """S(x) = sum_i w_i x_i, one score per example."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x):
        return (x.flatten(1) * self.w).sum(dim=1)


def test_deletion_and_insertion_curves_of_a_linear_model_by_hand():
    w = torch.tensor([1.0, 2.0, 3.0, 4.0])
    model = SumModel(w).eval()
    x = torch.ones(1, 4)
    attributions = (w * x).clone()  # order: feature 3, 2, 1, 0
    fractions, scores = deletion_curve(model, x, attributions, steps=4)
    torch.testing.assert_close(fractions, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    # remove 4, then 3, then 2, then 1 from 10
    torch.testing.assert_close(scores, torch.tensor([[10.0, 6.0, 3.0, 1.0, 0.0]]))
    _, scores = insertion_curve(model, x, attributions, steps=4)
    torch.testing.assert_close(scores, torch.tensor([[0.0, 4.0, 7.0, 9.0, 10.0]]))
    # a baseline value replaces deleted features: S = sum of kept w_i + 0.5 * sum of deleted w_i
    _, scores = deletion_curve(model, x, attributions, steps=4, baseline=0.5)
    torch.testing.assert_close(scores, torch.tensor([[10.0, 8.0, 6.5, 5.5, 5.0]]))
    torch.testing.assert_close(area_under_curve(fractions, scores), torch.tensor([6.875]))


def test_deletion_uses_most_positive_first_and_stable_ties():
    model = SumModel(torch.tensor([1.0, 10.0, 100.0])).eval()
    x = torch.ones(1, 3)
    # feature 0 and 2 tie; the earlier index goes first; negative feature 1 last
    attributions = torch.tensor([[1.0, -5.0, 1.0]])
    _, scores = deletion_curve(model, x, attributions, steps=3)
    torch.testing.assert_close(scores, torch.tensor([[111.0, 110.0, 10.0, 0.0]]))


def test_curves_are_batched_per_example_with_targets_and_images():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    x = torch.randn(5, 1, 4, 4)
    attributions = torch.randn(5, 1, 4, 4)
    target = torch.tensor([0, 1, 2, 1, 0])
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    fractions, scores = deletion_curve(model, x, attributions, target, steps=8)
    assert calls == [5 * 9]  # one forward pass for all examples and steps
    assert fractions.shape == (9,) and scores.shape == (5, 9)
    for n in range(5):  # each row equals the same curve computed for that example alone
        _, alone = deletion_curve(model, x[n:n + 1], attributions[n:n + 1], int(target[n]), steps=8)
        torch.testing.assert_close(scores[n], alone[0])
    with torch.no_grad():
        full = model(x).gather(1, target[:, None])[:, 0]
        empty = model(torch.zeros_like(x)).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(scores[:, 0], full)
    torch.testing.assert_close(scores[:, -1], empty)
    _, inserted = insertion_curve(model, x, attributions, target, steps=8)
    torch.testing.assert_close(inserted[:, 0], empty)
    torch.testing.assert_close(inserted[:, -1], full)


def test_curves_leave_inputs_unchanged_and_reject_bad_steps():
    model = SumModel(torch.ones(4)).eval()
    x = torch.randn(2, 4)
    attributions = torch.randn(2, 4)
    x0, a0 = x.clone(), attributions.clone()
    deletion_curve(model, x, attributions)
    insertion_curve(model, x, attributions, baseline=torch.zeros(4))
    assert torch.equal(x, x0) and torch.equal(attributions, a0)
    with pytest.raises(ValueError, match="steps must be an int >= 1, got 0"):
        deletion_curve(model, x, attributions, steps=0)
    with pytest.raises(ValueError, match="same shape as x"):
        insertion_curve(model, x, attributions[:, :2])


def test_area_under_curve():
    fractions = torch.linspace(0, 1, 11)
    scores = torch.stack([fractions, torch.ones(11), 1 - fractions])
    torch.testing.assert_close(area_under_curve(fractions, scores), torch.tensor([0.5, 1.0, 0.5]))
    with pytest.raises(ValueError, match="scores"):
        area_under_curve(fractions, scores[:, :5])


# ---------------------------------------------------------------- spearman

@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=2**31 - 1), st.booleans())
def test_spearman_matches_scipy(seed, with_ties):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(3, 2, 5))
    b = rng.normal(size=(3, 2, 5)) + a
    if with_ties:
        a, b = np.round(a), np.round(b * 2)
    rho = spearman(torch.from_numpy(a), torch.from_numpy(b))
    for n in range(3):
        expected = scipy.stats.spearmanr(a[n].ravel(), b[n].ravel()).statistic
        if np.isnan(expected):
            assert torch.isnan(rho[n])
        else:
            assert rho[n].item() == pytest.approx(expected, abs=1e-10)


def test_spearman_simple_cases_and_errors():
    a = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    b = torch.tensor([[10.0, 20.0, 30.0, 40.0], [4.0, 3.0, 2.0, 1.0]])
    torch.testing.assert_close(spearman(a, b), torch.tensor([1.0, -1.0]))
    assert torch.isnan(spearman(a[:1], torch.ones(1, 4)))[0]
    with pytest.raises(ValueError, match="same shape"):
        spearman(a, b[:, :3])
    with pytest.raises(ValueError, match="a must have at least 2 dimension"):
        spearman(a[0], b[0])


# ---------------------------------------------------------------- cascading randomisation

def small_net():
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8, 5), torch.nn.ReLU(),
        torch.nn.Linear(5, 3),
    )


def gradient(model, x, target):
    x = x.clone().requires_grad_(True)
    model(x)[:, target].sum().backward()
    return x.grad


def test_cascading_randomization_leaves_the_model_and_global_rng_alone():
    model = small_net().train()
    before = copy.deepcopy(model.state_dict())
    x = torch.randn(2, 1, 4, 4)
    x0 = x.clone()
    torch.manual_seed(123)
    rng_state = torch.get_rng_state()
    results = cascading_randomization(model, x, gradient, 1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert torch.equal(x, x0)
    assert [name for name, _ in results] == ["original", "5", "3", "0"]
    torch.testing.assert_close(results[0][1], gradient(model, x, 1))


def test_cascading_randomization_goes_top_down_cumulatively_and_is_reproducible():
    model = small_net()
    snapshots = []

    def record(m, x, target):
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return m(x)[:, target]

    x = torch.randn(2, 1, 4, 4)
    cascading_randomization(model, x, record, 0, generator=torch.Generator().manual_seed(7))
    original = model.state_dict()
    changed = [sorted({k.split(".")[0] for k in s if not torch.equal(s[k], original[k])}) for s in snapshots]
    assert changed == [[], ["5"], ["3", "5"], ["0", "3", "5"]]
    # new weights have the scale of the original layer
    for layer in ("0", "3", "5"):
        new_std = snapshots[-1][f"{layer}.weight"].std().item()
        old_std = original[f"{layer}.weight"].std().item()
        assert 0.2 < new_std / old_std < 5

    def outputs(seed):
        def method(m, x, t):
            return m(x)[:, t]
        return cascading_randomization(model, x, method, 0, generator=torch.Generator().manual_seed(seed))

    first, again, other = outputs(7), outputs(7), outputs(8)
    for (n1, a1), (n2, a2) in zip(first, again):
        assert n1 == n2 and torch.equal(a1, a2)
    assert not torch.equal(first[-1][1], other[-1][1])


def test_cascading_randomization_bad_inputs():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        cascading_randomization(lambda x: x, torch.zeros(1, 2), gradient)
    with pytest.raises(TypeError, match="method must be callable"):
        cascading_randomization(small_net(), torch.zeros(1, 1, 4, 4), "gradient")
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        cascading_randomization(small_net(), torch.zeros(1, 1, 4, 4), gradient, 0, generator=0)


# ---------------------------------------------------------------- masks

def test_mask_mass_by_hand():
    a = torch.tensor([[[1.0, -1.0], [2.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[[True, True], [False, False]], [[True, False], [False, False]]])
    torch.testing.assert_close(mask_mass(a, mask), torch.tensor([0.5, 0.0]))  # 2/4; 0/0 -> 0


def test_mask_mass_sums_channels_of_absolute_values():
    a = torch.zeros(1, 2, 2, 2)
    a[0, 0, 0, 0], a[0, 1, 0, 0] = 3.0, -3.0  # would cancel if signed
    a[0, 0, 1, 1] = 2.0
    mask = torch.zeros(1, 2, 2, dtype=torch.bool)
    mask[0, 0, 0] = True
    torch.testing.assert_close(mask_mass(a, mask), torch.tensor([0.75]))
    torch.testing.assert_close(mask_mass(a, mask[:, None]), torch.tensor([0.75]))


def test_pointing_game_by_hand():
    a = torch.tensor([
        [[0.0, 5.0], [1.0, -9.0]],   # max at (0, 1): inside
        [[0.0, 5.0], [9.0, 0.0]],    # max at (1, 0): outside
        [[-1.0, -2.0], [-3.0, -4.0]],  # nothing positive: miss
    ])
    mask = torch.tensor([[True, True], [False, False]]).expand(3, 2, 2)
    assert pointing_game(a, mask).tolist() == [True, False, False]
    # channels are summed (signed) first
    two = torch.stack([a[:1], -a[:1]], dim=1) + torch.tensor([0.0, 0.0, 0.0, 1.0]).reshape(1, 1, 2, 2)
    assert pointing_game(two, mask[:1]).tolist() == [False]


def test_mask_functions_reject_bad_masks():
    a = torch.ones(1, 2, 2)
    with pytest.raises(TypeError, match="mask must be a boolean tensor"):
        mask_mass(a, torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match="do not fit the mask"):
        pointing_game(a, torch.ones(1, 3, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="attributions must be a torch.Tensor"):
        mask_mass(np.ones((1, 2, 2)), torch.ones(1, 2, 2, dtype=torch.bool))
