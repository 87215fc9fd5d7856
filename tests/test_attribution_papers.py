"""The worked examples of the papers the book cites, checked on the reference implementations."""

import copy
import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from captum.attr import DeepLift

import _models as models
from helpers import models as toy  # the papers' toy networks
from helpers import attribution as A

DTYPE = torch.float64
TOL = dict(rtol=0, atol=1e-6)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


# --- Sundararajan et al. 2017: f(x) = 1 - ReLU(1 - x) at x = 2 --------------
#
# Along the path a * x (baseline 0) the integrand of IG is x f'(2a) = 2 for
# a < 1/2 and 0 for a > 1/2 -- and also 0 at a = 1/2 exactly, because PyTorch
# takes ReLU'(0) = 0. The exact integral is 1 = f(2) - f(0). Counting the nodes
# below 1/2 gives each rule's value in closed form (n = steps):
#   left       a = k/n,        k = 0..n-1:  IG = 2 ceil(n/2) / n        (1 for even n, 1 + 1/n for odd n)
#   right      a = k/n,        k = 1..n:    IG = 2 floor((n-1)/2) / n   (1 - 2/n for even n, 1 - 1/n for odd n)
#   midpoint   a = (k+1/2)/n:               IG = 2 floor(n/2) / n       (1 for even n, 1 - 1/n for odd n)
#   trapezoid  a = k/(n-1):                 IG = 1 for even n, (n-2)/(n-1) for odd n
#   Gauss-Legendre: nodes symmetric about 1/2, so IG = 1 for even n; for odd n
#                   the middle node sits exactly on the kink and IG = 1 - w_mid.
# So the error is at most 1/n for left and midpoint, but the right rule's
# error is 2/n for every even n (e.g. IG = 0 with 2 steps): the bound that
# holds for all the Riemann rules here is |IG - 1| <= 2/n.

EXPECTED_IG = {
    "left": lambda n: 2 * math.ceil(n / 2) / n,
    "right": lambda n: 2 * ((n - 1) // 2) / n,
    "midpoint": lambda n: 2 * (n // 2) / n,
    "trapezoid": lambda n: 1.0 if n % 2 == 0 else (n - 2) / (n - 1),
    "gausslegendre": lambda n: 1.0 if n % 2 == 0 else 1 - np.polynomial.legendre.leggauss(n)[1][n // 2] / 2,
}


def test_saturated_relu_has_zero_gradient_and_input_x_gradient():
    model, x = toy.one_minus_relu(), torch.tensor([[2.0]], dtype=DTYPE)
    assert model(x).item() == 1 and model(torch.zeros_like(x)).item() == 0
    assert A.gradient(model, x).item() == 0
    assert A.input_x_gradient(model, x).item() == 0


@pytest.mark.parametrize("rule", A.RULES)
def test_saturated_relu_integrated_gradients_closed_form(rule):
    model, x = toy.one_minus_relu(), torch.tensor([[2.0]], dtype=DTYPE)
    for n in range(2 if rule == "trapezoid" else 1, 21):
        ig = A.integrated_gradients(model, x, steps=n, rule=rule).item()
        assert ig == pytest.approx(EXPECTED_IG[rule](n), abs=1e-12), (rule, n)
        if rule != "gausslegendre":
            assert abs(ig - 1) <= 2 / n + 1e-12
        if rule in ("left", "midpoint"):
            assert abs(ig - 1) <= 1 / n + 1e-12


def test_saturated_relu_right_rule_error_is_two_over_steps_for_even_steps():
    model, x = toy.one_minus_relu(), torch.tensor([[2.0]], dtype=DTYPE)
    for n in (2, 4, 10, 50):
        assert 1 - A.integrated_gradients(model, x, steps=n, rule="right").item() == pytest.approx(2 / n, abs=1e-12)


# --- Sundararajan et al. 2017: two implementations of the same function ------


def test_f_and_g_compute_the_same_function():
    f, g = toy.sundararajan_f(), toy.sundararajan_g()
    grid = torch.cartesian_prod(torch.linspace(-3, 4, 29, dtype=DTYPE), torch.linspace(-3, 4, 29, dtype=DTYPE))
    with torch.no_grad():
        torch.testing.assert_close(f(grid), g(grid), rtol=0, atol=1e-12)


def test_integrated_gradients_is_implementation_invariant_deeplift_is_not():
    f, g = toy.sundararajan_f(), toy.sundararajan_g()
    x = torch.tensor([[3.0, 1.0]], dtype=DTYPE)
    expected_ig = torch.tensor([[1.5, -0.5]], dtype=DTYPE)
    torch.testing.assert_close(A.integrated_gradients(f, x, steps=50), expected_ig, **TOL)
    torch.testing.assert_close(A.integrated_gradients(g, x, steps=50), expected_ig, **TOL)
    # DeepLIFT (Rescale, zero baseline), by hand:
    #   f: ReLU units pass x1 = 3, x2 = 1 with multiplier 1; the output ReLU
    #      goes from -1 to 1 at the input and from 0 to 1 at the output -> 1/2.
    #      attr = (3 * 1/2, 1 * -1/2) = (1.5, -0.5)
    #   g: ReLU(x1 - 1) goes 0 -> 2 while x1 goes 0 -> 3 -> multiplier 2/3;
    #      the output ReLU goes 0 -> 1 for an input 0 -> 1 -> 1.
    #      attr = (3 * 2/3, 1 * -1) = (2, -1)
    torch.testing.assert_close(A.deeplift_rescale(f, x), torch.tensor([[1.5, -0.5]], dtype=DTYPE), **TOL)
    torch.testing.assert_close(A.deeplift_rescale(g, x), torch.tensor([[2.0, -1.0]], dtype=DTYPE), **TOL)
    # Captum's DeepLift agrees (it warns about hooking ReLUs: its internals).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="captum")
        for model in (f, g):
            theirs = DeepLift(model).attribute(x.clone()).detach()
            torch.testing.assert_close(theirs, A.deeplift_rescale(model, x), **TOL)


# --- Euler's theorem and the Ancona et al. 2018 equivalences -----------------


def test_euler_identity_holds_without_biases():
    model, x = models.mlp(bias=False), 3 * _randn(8, 6)
    with torch.no_grad():
        out = model(x)
    for target in range(4):
        torch.testing.assert_close(A.input_x_gradient(model, x, target).sum(1), out[:, target], **TOL)


def test_euler_identity_fails_with_biases():
    model, x = models.mlp(bias=True), 3 * _randn(8, 6)
    with torch.no_grad():
        out = model(x)
    gap = out[:, 0] - A.input_x_gradient(model, x, 0).sum(1)
    assert gap.abs().max() > 1e-2


@pytest.mark.parametrize("build", [lambda: models.mlp(bias=False), lambda: models.image_mlp(bias=False)])
def test_lrp_and_deeplift_equal_input_x_gradient_without_biases(build):
    model = build()
    x = _randn(6, *((6,) if isinstance(model[0], torch.nn.Linear) else (1, 4, 4)))
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    ixg = A.input_x_gradient(model, x, target)
    torch.testing.assert_close(A.lrp_epsilon(model, x, target, epsilon=0), ixg, **TOL)
    torch.testing.assert_close(A.lrp_epsilon(model, x, target, epsilon=1e-12), ixg, **TOL)
    torch.testing.assert_close(A.deeplift_rescale(model, x, target), ixg, **TOL)


def test_with_biases_lrp_still_equals_input_x_gradient_but_deeplift_does_not():
    # LRP's ratio a_k / z_k = ReLU(z_k) / z_k = ReLU'(z_k) whatever the bias in
    # z_k, so the equivalence survives biases; DeepLIFT's reference activations
    # become nonzero and it differs.
    model, x, target = models.mlp(bias=True), _randn(6, 6), 2
    ixg = A.input_x_gradient(model, x, target)
    torch.testing.assert_close(A.lrp_epsilon(model, x, target, epsilon=0), ixg, **TOL)
    assert (A.deeplift_rescale(model, x, target) - ixg).abs().max() > 1e-3


def test_lrp_conserves_relevance_only_without_biases():
    x = _randn(5, 6)
    for bias in (False, True):
        model = models.mlp(bias=bias)
        with torch.no_grad():
            out = model(x)[:, 1]
        total = A.lrp_epsilon(model, x, 1, epsilon=0).sum(1)
        if bias:
            assert (total - out).abs().max() > 1e-3
        else:
            torch.testing.assert_close(total, out, **TOL)


def test_deeplift_summation_to_delta():
    model, x, baseline = models.mlp(), _randn(5, 6), _randn(1, 6, seed=3)
    with torch.no_grad():
        delta = model(x)[:, 3] - model(baseline)[:, 3]
    torch.testing.assert_close(A.deeplift_rescale(model, x, 3, baseline=baseline).sum(1), delta, rtol=0, atol=1e-12)


# --- min(x1, x2): integrated gradients vs Shapley values ---------------------


def test_minimum_integrated_gradients_vs_shapley():
    x = torch.tensor([[1.0, 3.0]], dtype=DTYPE)
    ig = A.integrated_gradients(models.minimum, x, baseline=0.0)
    torch.testing.assert_close(ig, torch.tensor([[1.0, 0.0]], dtype=DTYPE), **TOL)
    phi = A.shapley_values(models.minimum, x[0], torch.zeros(2, dtype=DTYPE))
    torch.testing.assert_close(phi, torch.tensor([0.5, 0.5], dtype=DTYPE), **TOL)


# --- Shapley value axioms ---------------------------------------------------


def _brute_force_shapley(f, x, baseline):
    """The average marginal contribution over all d! orderings."""
    d = len(x)
    phi = torch.zeros(d, dtype=x.dtype)
    for order in itertools.permutations(range(d)):
        current = baseline.clone()
        previous = f(current[None])[0]
        for i in order:
            current[i] = x[i]
            value = f(current[None])[0]
            phi[i] += value - previous
            previous = value
    return phi / math.factorial(d)


def _game(z):
    """A non-additive 4-feature function with interactions."""
    return z[:, 0] * z[:, 1] + torch.sin(z[:, 2]) * z[:, 3] + z[:, 0] ** 2 - torch.relu(z[:, 1] - z[:, 3])


def test_shapley_matches_permutation_definition_and_is_efficient():
    x, baseline = _randn(4), _randn(4, seed=1)
    phi = A.shapley_values(_game, x, baseline)
    torch.testing.assert_close(phi, _brute_force_shapley(_game, x, baseline), rtol=0, atol=1e-12)
    torch.testing.assert_close(phi.sum(), _game(x[None])[0] - _game(baseline[None])[0], rtol=0, atol=1e-12)


def test_shapley_symmetry_and_dummy():
    # Features 0 and 1 enter symmetrically; feature 3 is ignored.
    f = lambda z: torch.tanh(z[:, 0] + z[:, 1]) * z[:, 2] + z[:, 0] * z[:, 1]
    x = torch.tensor([0.7, 0.7, -1.3, 5.0], dtype=DTYPE)
    phi = A.shapley_values(f, x, torch.tensor([0.1, 0.1, 0.4, -2.0], dtype=DTYPE))
    assert phi[0].item() == pytest.approx(phi[1].item(), abs=1e-12)
    assert phi[3].item() == pytest.approx(0.0, abs=1e-12)


def test_shapley_of_a_linear_model_is_weight_times_delta():
    w, b = _randn(5, seed=2), 0.3
    f = lambda z: z @ w + b
    x, baseline = _randn(3, 5, seed=3), _randn(5, seed=4)
    torch.testing.assert_close(A.shapley_values(f, x, baseline), w * (x - baseline), rtol=0, atol=1e-12)


def test_shapley_evaluates_all_coalitions_in_one_call_and_batches():
    calls = []

    def f(z):
        calls.append(z.shape)
        return _game(z)

    x, baseline = _randn(3, 4), _randn(4, seed=1)
    phi = A.shapley_values(f, x, baseline)
    assert calls == [(3 * 2**4, 4)]
    for n in range(3):
        torch.testing.assert_close(phi[n], A.shapley_values(_game, x[n], baseline), rtol=0, atol=1e-12)


# --- Kindermans et al. 2019: the input-shift test ----------------------------


def test_input_shift_changes_input_x_gradient_not_gradient_or_shifted_ig():
    m1 = models.mlp()
    c = _randn(6, seed=5)  # the constant shift of the data
    # m2(x) = m1(x + c): absorb the shift into the first layer's bias.
    m2 = copy.deepcopy(m1)
    with torch.no_grad():
        m2[0].bias += m1[0].weight @ c
    x1 = _randn(5, 6, seed=6)  # data seen by m1
    x2 = x1 - c  # the same data, shifted, seen by m2
    with torch.no_grad():
        torch.testing.assert_close(m2(x2), m1(x1), rtol=0, atol=1e-12)
    target = torch.tensor([0, 1, 2, 3, 0])

    torch.testing.assert_close(A.gradient(m2, x2, target), A.gradient(m1, x1, target), **TOL)
    assert (A.input_x_gradient(m2, x2, target) - A.input_x_gradient(m1, x1, target)).abs().max() > 1e-2
    baseline1 = torch.zeros(6, dtype=DTYPE)
    torch.testing.assert_close(
        A.integrated_gradients(m2, x2, target, baseline=baseline1 - c),
        A.integrated_gradients(m1, x1, target, baseline=baseline1),
        **TOL,
    )
    # With the same (zero) baseline for both, IG is not invariant: the baseline matters.
    assert (A.integrated_gradients(m2, x2, target) - A.integrated_gradients(m1, x1, target)).abs().max() > 1e-2
