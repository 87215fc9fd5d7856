"""Property tests (hypothesis): linear models, completeness, batch independence, no side effects."""

import warnings

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

import _models as models
from conftest import METHODS, example, inplace_first_example
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
# The deterministic methods of the registry; path_gradients' (K, N, ...) is put
# example-first, and Grad-CAM gets the CNN and images.
DETERMINISTIC = [name for name, m in METHODS.items() if not m.random and m.takes_target]


def _attribute(name, x, target):
    method = METHODS[name]
    if method.model == "image":
        return method.call(CNN, x.reshape(-1, 1, 8, 8), target % 5)
    result = method.call(MLP, x, target)
    return result.transpose(0, 1) if method.stacked else result


@FEW
@given(st.sampled_from(DETERMINISTIC), st.integers(2, 6), st.data())
def test_each_example_is_attributed_independently_of_the_batch(name, n, data):
    split = data.draw(st.integers(1, n - 1))
    width = 64 if METHODS[name].model == "image" else 6
    x = _array(data, (n, width), 3)
    target = torch.tensor(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    whole = _attribute(name, x, target)
    parts = torch.cat([_attribute(name, x[:split], target[:split]), _attribute(name, x[split:], target[split:])])
    torch.testing.assert_close(whole, parts, **TOL)


CHUNKED = [name for name, m in METHODS.items() if "batch_size" in m.options]


@FEW
@given(st.sampled_from(CHUNKED), st.integers(1, 20), st.integers(1, 4), st.data())
def test_batch_size_does_not_change_results(name, batch_size, n, data):
    x = _array(data, (n, 6), 3)
    target = torch.tensor(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    method = METHODS[name]

    def run(b):
        seeded = {"generator": torch.Generator().manual_seed(0)} if method.random else {}
        return method.call(MLP, x, target, batch_size=b, **seeded)

    torch.testing.assert_close(run(batch_size), run(None), **TOL)


# --- the caller's model and tensors are left as they were ---------------------


def _fixed_generator(name):
    return {"generator": torch.Generator().manual_seed(0)} if METHODS[name].random else {}


@settings(max_examples=40, deadline=None, database=None)
@given(
    st.sampled_from(sorted(METHODS)),
    st.sampled_from(["plain", "inplace", "inplace_first"]),  # ReLUs; an in-place first op
    st.booleans(),  # model in training mode
    st.booleans(),  # x requires grad
    st.booleans(),  # first parametrised layer frozen (requires_grad False)
    st.booleans(),  # parameters carry a .grad already
)
def test_model_and_inputs_are_left_untouched(name, variant, training, x_requires_grad, frozen, has_grad):
    if variant == "inplace_first":
        model, x, target = inplace_first_example(name)
    else:
        model, x, target = example(name, inplace=variant == "inplace")
    method = METHODS[name]
    model.train(training)
    first = next(m for m in model.modules() if any(True for _ in m.parameters(recurse=False)))
    for p in first.parameters():
        p.requires_grad_(not frozen)
    if has_grad:
        for p in model.parameters():
            p.grad = torch.full_like(p, 0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads_before = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    flags = [p.requires_grad for p in model.parameters()]

    x = x.requires_grad_(x_requires_grad)
    x_before = x.detach().clone()
    assert (x_before < 0).any()  # an in-place ReLU on x would change these values
    with warnings.catch_warnings():
        # Training mode is part of what is tested here; its warning is tested elsewhere.
        warnings.simplefilter("ignore", UserWarning)
        if name == "shapley_values":
            method.call(model, x[0], 2)
        else:
            method.call(model, x, target if method.takes_target else 2, **_fixed_generator(name))

    assert model.training == training and all(m.training == training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    for p, g in zip(model.parameters(), grads_before):
        assert (p.grad is None) if g is None else torch.equal(p.grad, g)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert torch.equal(x.detach(), x_before) and x.requires_grad == x_requires_grad
    assert x.grad is None and x.is_leaf
