"""Property tests (hypothesis): linear models, completeness, batch independence, no side effects."""

import warnings

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

import _models as models
from helpers import attribution as A

DTYPE = torch.float64
TOL = dict(rtol=1e-9, atol=1e-9)
# Few examples and no example database: fast, and nothing written to disk.
FEW = settings(max_examples=15, deadline=None, database=None)


def _array(data, shape, bound):
    values = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-bound, bound, allow_nan=False)))
    return torch.from_numpy(values)


@st.composite
def linear_problems(draw):
    """A random linear model S_c(x) = w_c . x + b_c with inputs, baseline and target."""
    data = draw(st.data())
    n, d, c = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
    model = nn.Sequential(nn.Linear(d, c)).to(DTYPE).eval()  # Sequential, for deeplift_rescale
    with torch.no_grad():
        model[0].weight.copy_(_array(data, (c, d), 3))
        model[0].bias.copy_(_array(data, (c,), 3))
    x, baseline = _array(data, (n, d), 5), _array(data, (n, d), 5)
    if draw(st.booleans()):
        target = draw(st.integers(0, c - 1))
        w = model[0].weight[target].expand(n, d)
    else:
        target = torch.tensor(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
        w = model[0].weight[target]
    return model, x, baseline, target, w.detach()


def _score(model, x, target):
    with torch.no_grad():
        out = model(x)
    index = torch.as_tensor(target).expand(len(x))
    return out.gather(1, index[:, None])[:, 0]


@FEW
@given(linear_problems())
def test_linear_gradient_is_w_and_input_x_gradient_is_w_times_x(problem):
    model, x, _, target, w = problem
    torch.testing.assert_close(A.gradient(model, x, target), w, **TOL)
    torch.testing.assert_close(A.input_x_gradient(model, x, target), w * x, **TOL)


@FEW
@given(linear_problems(), st.sampled_from(A.RULES), st.integers(2, 8))
def test_completeness_on_linear_models(problem, rule, steps):
    model, x, baseline, target, w = problem
    delta = _score(model, x, target) - _score(model, baseline, target)
    ig = A.integrated_gradients(model, x, target, baseline=baseline, steps=steps, rule=rule)
    torch.testing.assert_close(ig, w * (x - baseline), **TOL)  # the rule does not matter: the integrand is constant
    torch.testing.assert_close(ig.sum(1), delta, **TOL)
    torch.testing.assert_close(A.deeplift_rescale(model, x, target, baseline=baseline).sum(1), delta, **TOL)
    ixg_delta = _score(model, x, target) - _score(model, torch.zeros_like(x), target)
    torch.testing.assert_close(A.input_x_gradient(model, x, target).sum(1), ixg_delta, **TOL)
    if isinstance(target, int):
        phi = A.shapley_values(lambda z: model(z)[:, target], x, baseline)
        torch.testing.assert_close(phi, w * (x - baseline), **TOL)
        torch.testing.assert_close(phi.sum(1), delta, **TOL)


# --- batch independence ------------------------------------------------------

MLP, CNN = models.mlp(), models.cnn()

DETERMINISTIC = {
    "gradient": lambda x, t: A.gradient(MLP, x, t),
    "input_x_gradient": lambda x, t: A.input_x_gradient(MLP, x, t),
    "integrated_gradients": lambda x, t: A.integrated_gradients(MLP, x, t, steps=5, rule="midpoint"),
    "path_gradients": lambda x, t: A.path_gradients(MLP, x, t, alphas=[0.2, 0.9]).transpose(0, 1),
    "lrp_epsilon": lambda x, t: A.lrp_epsilon(MLP, x, t),
    "deeplift_rescale": lambda x, t: A.deeplift_rescale(MLP, x, t, baseline=0.5),
    "gradcam": lambda x, t: A.gradcam(CNN, CNN[3], x.reshape(-1, 1, 8, 8), t % 5),
}


@FEW
@given(st.sampled_from(sorted(DETERMINISTIC)), st.integers(2, 6), st.data())
def test_each_example_is_attributed_independently_of_the_batch(name, n, data):
    split = data.draw(st.integers(1, n - 1))
    width = 64 if name == "gradcam" else 6
    x = _array(data, (n, width), 3)
    target = torch.tensor(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    method = DETERMINISTIC[name]
    whole = method(x, target)
    parts = torch.cat([method(x[:split], target[:split]), method(x[split:], target[split:])])
    torch.testing.assert_close(whole, parts, **TOL)


@FEW
@given(st.integers(1, 20), st.integers(1, 4))
def test_batch_size_does_not_change_results(batch_size, n):
    x = torch.randn(n, 6, generator=torch.Generator().manual_seed(n), dtype=DTYPE)
    t = torch.arange(n) % 4
    gen = lambda: torch.Generator().manual_seed(0)
    pairs = [
        lambda b: A.integrated_gradients(MLP, x, t, steps=7, batch_size=b),
        lambda b: A.path_gradients(MLP, x, t, alphas=[0.1, 0.5, 0.7], batch_size=b),
        lambda b: A.smoothgrad(MLP, x, t, samples=5, generator=gen(), batch_size=b),
        lambda b: A.expected_gradients(MLP, x, t, baselines=x.flip(0), samples=5, generator=gen(), batch_size=b),
    ]
    for method in pairs:
        torch.testing.assert_close(method(batch_size), method(None), **TOL)


# --- the caller's model and tensors are left as they were ---------------------

ALL = {
    "gradient": lambda m, x, t: A.gradient(m, x, t, absolute=True),
    "input_x_gradient": lambda m, x, t: A.input_x_gradient(m, x, t),
    "integrated_gradients": lambda m, x, t: A.integrated_gradients(m, x, t, steps=3, batch_size=2),
    "path_gradients": lambda m, x, t: A.path_gradients(m, x, t, alphas=[0.5]),
    "smoothgrad": lambda m, x, t: A.smoothgrad(m, x, t, samples=3, variant="variance"),
    "expected_gradients": lambda m, x, t: A.expected_gradients(
        m, x, t, baselines=torch.zeros(2, 6, dtype=DTYPE), samples=3
    ),
    "lrp_epsilon": lambda m, x, t: A.lrp_epsilon(m, x, t),
    "deeplift_rescale": lambda m, x, t: A.deeplift_rescale(m, x, t),
    "gradcam": lambda m, x, t: A.gradcam(m, m[0], x.reshape(-1, 1, 2, 3), t),
    "shapley_values": lambda m, x, t: A.shapley_values(lambda z: m(z)[:, t], x, 0.0),
}


@settings(max_examples=25, deadline=None, database=None)
@given(
    st.sampled_from(sorted(ALL)),
    st.booleans(),  # model in training mode
    st.booleans(),  # x requires grad
    st.booleans(),  # first layer frozen (requires_grad False)
    st.booleans(),  # parameters carry a .grad already
)
def test_model_and_inputs_are_left_untouched(name, training, x_requires_grad, frozen, has_grad):
    if name == "gradcam":
        model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Flatten(), nn.Linear(12, 4)).to(DTYPE)
    else:
        model = models.mlp()
    model.train(training)
    for p in model[0].parameters():
        p.requires_grad_(not frozen)
    if has_grad:
        for p in model.parameters():
            p.grad = torch.full_like(p, 0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads_before = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    flags = [p.requires_grad for p in model.parameters()]

    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(1), dtype=DTYPE).requires_grad_(x_requires_grad)
    x_before = x.detach().clone()
    with warnings.catch_warnings():
        # Training mode is part of what is tested here; its warning is tested elsewhere.
        warnings.simplefilter("ignore", UserWarning)
        ALL[name](model, x, 2)

    assert model.training == training and all(m.training == training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    for p, g in zip(model.parameters(), grads_before):
        assert (p.grad is None) if g is None else torch.equal(p.grad, g)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert torch.equal(x.detach(), x_before) and x.requires_grad == x_requires_grad
    assert x.grad is None and x.is_leaf
