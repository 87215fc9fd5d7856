"""Every public helper is in the one registry (tests/conftest.py), and every
registered function meets the same contract on the same bad inputs."""
import pytest
import torch

import _models as models
from conftest import METHODS, METRICS, NOT_METHODS, example
from helpers import attribution as A
from helpers import metrics as M

DTYPE = torch.float64


def test_every_public_attribution_function_is_registered():
    public = set(A.__all__) - NOT_METHODS
    assert public == set(METHODS), f"register in tests/conftest.py: {sorted(public ^ set(METHODS))}"


def test_every_public_metric_is_registered():
    assert set(M.__all__) == set(METRICS), f"register in tests/conftest.py: {sorted(set(M.__all__) ^ set(METRICS))}"


# --- the same bad inputs for every registered method ---------------------------

TARGETED = [name for name, m in METHODS.items() if m.takes_target]


@pytest.mark.parametrize("name", TARGETED)
def test_every_method_rejects_the_same_bad_inputs(name):
    call = METHODS[name].call
    model, x, target = example(name)
    with pytest.raises(TypeError, match="model must be callable"):
        call("model", x, target)
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        call(model, x.tolist(), target)
    with pytest.raises(TypeError, match="x must be a floating-point tensor, got dtype torch.int64"):
        call(model, x.long(), target)
    with pytest.raises(TypeError, match="target must be None, an int or a 1-D integer tensor, got str"):
        call(model, x, "cat")
    with pytest.raises(TypeError, match="target must be an integer tensor, got dtype torch.float32"):
        call(model, x, target.float())
    with pytest.raises(ValueError, match=r"target must be a 1-D tensor .*\(length 3\), got shape \(2,\)"):
        call(model, x, target[:2])
    with pytest.raises(ValueError, match=r"target out of range: expected class indices in \[0, \d\]"):
        call(model, x, 99)
    with pytest.raises(ValueError, match="target is missing: model returns \\d outputs per example"):
        call(model, x, None)


@pytest.mark.parametrize("name", [n for n in TARGETED if "baseline" in METHODS[n].options])
def test_every_baseline_is_checked_alike(name):
    model, x, target = example(name)
    with pytest.raises(TypeError, match="baseline must be None, a number or a tensor broadcastable to x, got str"):
        METHODS[name].call(model, x, target, baseline="black")
    with pytest.raises(ValueError, match=r"baseline of shape \(5,\) does not broadcast to x of shape \(3, 6\)"):
        METHODS[name].call(model, x, target, baseline=torch.zeros(5, dtype=DTYPE))


@pytest.mark.parametrize("option", ["steps", "samples", "batch_size"])
@pytest.mark.parametrize("name", TARGETED)
def test_every_count_is_an_int_of_at_least_one(name, option):
    if option not in METHODS[name].options:
        pytest.skip(f"{name} has no {option}")
    model, x, target = example(name)
    with pytest.raises(ValueError, match=f"{option} must be an int >= 1, got 0"):
        METHODS[name].call(model, x, target, **{option: 0})
    with pytest.raises(TypeError, match=f"{option} must be an int >= 1, got float 2.0"):
        METHODS[name].call(model, x, target, **{option: 2.0})
    with pytest.raises(TypeError, match=f"{option} must be an int >= 1, got bool"):
        METHODS[name].call(model, x, target, **{option: True})


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if "generator" in m.options])
def test_generator_none_means_the_global_generator(name):
    model, x, target = example(name)
    torch.manual_seed(5)
    first = METHODS[name].call(model, x, target, generator=None)
    torch.manual_seed(5)
    again = METHODS[name].call(model, x, target, generator=None)
    seeded = METHODS[name].call(model, x, target, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first, again) and torch.equal(first, seeded)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        METHODS[name].call(model, x, target, generator=5)


# --- the same bad inputs for every metric that takes a model -------------------

MODEL_METRICS = [name for name, m in METRICS.items() if m.uses_model]


@pytest.mark.parametrize("name", MODEL_METRICS)
def test_every_model_metric_rejects_the_same_bad_inputs(name):
    call = METRICS[name].call
    if METRICS[name].images:
        model, x = models.cnn().eval(), torch.randn(3, 1, 8, 8, dtype=DTYPE)
        target, attributions = torch.tensor([3, 0, 1]), torch.randn(3, 1, 8, 8, dtype=DTYPE)
    else:
        model, x, target = models.mlp().eval(), torch.randn(3, 6, dtype=DTYPE), torch.tensor([3, 0, 1])
        attributions = torch.randn(3, 6, dtype=DTYPE)
    with pytest.raises(TypeError, match="model must be"):
        call("model", x, attributions, target)
    with pytest.raises(TypeError, match="target must be None, an int or a 1-D integer tensor, got str"):
        call(model, x, attributions, "cat")
    with pytest.raises(ValueError, match=r"target out of range: expected class indices in \[0, \d\]"):
        call(model, x, attributions, 99)
    with pytest.raises(ValueError, match=r"target is missing: model returns \d outputs per example"):
        call(model, x, attributions, None)


@pytest.mark.parametrize("name", [n for n, m in METRICS.items() if "generator" in m.options])
def test_metric_generator_none_means_the_global_generator(name):
    if METRICS[name].images:
        model, x = models.cnn().eval(), torch.randn(3, 1, 8, 8, dtype=DTYPE)
    else:
        model, x = models.mlp().eval(), torch.randn(3, 6, dtype=DTYPE)
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        runs.append(METRICS[name].call(model, x, x, 0, generator=None))
    seeded = METRICS[name].call(model, x, x, 0, generator=torch.Generator().manual_seed(3))
    def flat(result):  # a tensor, a tuple of tensors, or cascading's (name, map) pairs
        if isinstance(result, torch.Tensor):
            return result.flatten()
        return torch.cat([flat(part[-1] if isinstance(part, tuple) else part) for part in result])

    assert torch.equal(flat(runs[0]), flat(runs[1])) and torch.equal(flat(runs[0]), flat(seeded))
