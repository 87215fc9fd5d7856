"""The one contract every method in ``helpers.attribution`` and every metric in
``helpers.metrics`` checks its arguments against.

One rule for every error: a value of the wrong *type* raises ``TypeError``, a value of
the right type but a wrong *value* (shape, range, length) raises ``ValueError``; the
message names the argument, says what was expected and what came.

The shared meanings:

* ``model`` is any callable mapping a batch (N, ...) to scores (N,) or (N, C). An
  ``nn.Module`` in training mode triggers a ``UserWarning`` and is *not* switched to
  eval mode for you.
* ``x`` is a floating-point tensor whose first dimension is the batch (N >= 1).
* ``target`` picks the score S: ``None`` (the model gives one value per example),
  an ``int`` (the same output for every example) or a 1-D integer tensor of length N.
* ``baseline`` x' is ``None`` (zeros), a number, or a tensor broadcastable to x.
* ``generator`` is a ``torch.Generator`` or ``None``; ``None`` always means torch's
  global random number generator (seed it with ``torch.manual_seed``).
* ``steps``, ``samples``, ``batch_size`` are ints >= 1 (``batch_size=None``: all rows
  at once).
"""

import numbers
import warnings

import torch
from torch import nn

__all__ = [
    "check_model",
    "check_x",
    "check_tensor",
    "check_same_shape",
    "check_target",
    "check_int",
    "check_number",
    "check_batch_size",
    "check_generator",
    "check_choice",
    "baseline_like",
    "target_scores",
]


def _kind(value):
    return type(value).__name__


def check_model(model, name="model"):
    """A callable; an nn.Module in training mode gets a warning (not changed)."""
    if not callable(model):
        raise TypeError(f"{name} must be callable (a function or nn.Module), got {_kind(model)}")
    if isinstance(model, nn.Module) and any(m.training for m in model.modules()):
        # Dropout and batch norm in training mode make the score random or
        # batch-dependent; the caller decides whether that is intended.
        warnings.warn(
            f"{name} is in training mode: dropout and batch norm then corrupt "
            f"attributions; call {name}.eval() first",
            UserWarning,
            stacklevel=3,
        )


def check_tensor(value, name, *, min_dim=1):
    """A torch.Tensor with at least ``min_dim`` dimensions (the batch first)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {_kind(value)}")
    if value.dim() < min_dim:
        raise ValueError(
            f"{name} must have at least {min_dim} dimension(s) with the batch first, "
            f"got shape {tuple(value.shape)}"
        )


def check_x(x, name="x"):
    """A floating-point batch with at least one example; returned detached."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {_kind(x)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim < 1 or len(x) < 1:
        raise ValueError(
            f"{name} must have a batch dimension with at least one example, got shape {tuple(x.shape)}"
        )
    # Detached, so that no result keeps a graph back to the caller's tensor.
    return x.detach()


def check_same_shape(x, attributions, names=("x", "attributions")):
    """Two tensors of one shape (attributions and the inputs they explain)."""
    check_tensor(x, names[0])
    check_tensor(attributions, names[1])
    if attributions.shape != x.shape:
        raise ValueError(
            f"{names[1]} must have the same shape as {names[0]} {tuple(x.shape)}, "
            f"got {tuple(attributions.shape)}"
        )


def check_target(target, n):
    """``target`` as None, an int, or a 1-D int64 tensor of length n."""
    expected = "None, an int or a 1-D integer tensor"
    if target is None:
        return None
    if isinstance(target, bool):
        raise TypeError(f"target must be {expected}, got bool")
    if isinstance(target, numbers.Integral):
        return int(target)
    if isinstance(target, torch.Tensor):
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise TypeError(f"target must be an integer tensor, got dtype {target.dtype}")
        if target.ndim == 0:
            return int(target)
        if target.ndim != 1 or len(target) != n:
            raise ValueError(
                f"target must be a 1-D tensor with one class index per example "
                f"(length {n}), got shape {tuple(target.shape)}"
            )
        return target.long()
    raise TypeError(f"target must be {expected}, got {_kind(target)}")


def check_int(value, name, minimum=1):
    """An int (not a bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}, got {_kind(value)} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def check_number(value, name, *, minimum=None, maximum=None):
    """A real number (not a bool) in [minimum, maximum] (either bound optional)."""
    bounds = []
    if minimum is not None:
        bounds.append(f">= {minimum}")
    if maximum is not None:
        bounds.append(f"<= {maximum}")
    expected = "a number" + (" " + " and ".join(bounds) if bounds else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}, got {_kind(value)} {value!r}")
    if value != value or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {expected}, got {value}")
    return float(value)


def check_batch_size(batch_size):
    """None (all rows at once) or an int >= 1."""
    return None if batch_size is None else check_int(batch_size, "batch_size")


def check_generator(generator):
    """A torch.Generator, or None for torch's global random number generator."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {_kind(generator)}")
    return generator


def check_choice(value, name, choices):
    """One of a few named options (strings)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {', '.join(map(repr, choices))}; got {_kind(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def baseline_like(baseline, x, name="baseline"):
    """The reference input x' as a tensor of x's shape, dtype and device."""
    expected = "None, a number or a tensor broadcastable to x"
    if baseline is None:
        return torch.zeros_like(x)
    if isinstance(baseline, bool):
        raise TypeError(f"{name} must be {expected}, got bool")
    if isinstance(baseline, numbers.Real):
        return torch.full_like(x, float(baseline))
    if not isinstance(baseline, torch.Tensor):
        raise TypeError(f"{name} must be {expected}, got {_kind(baseline)}")
    if not (baseline.is_floating_point() or baseline.dtype in (torch.int32, torch.int64, torch.uint8)):
        raise TypeError(f"{name} must be a real-valued tensor, got dtype {baseline.dtype}")
    try:
        shape = torch.broadcast_shapes(baseline.shape, x.shape)
    except RuntimeError:
        shape = None
    if shape != x.shape:
        raise ValueError(
            f"{name} of shape {tuple(baseline.shape)} does not broadcast to x of shape {tuple(x.shape)}"
        )
    return baseline.detach().to(device=x.device, dtype=x.dtype).expand_as(x)


def target_scores(model, x, target):
    """S_n, the score of example n's target: shape (N,). The book's one definition.

    ``target`` must already have passed ``check_target``.
    """
    out = model(x)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"model must return a tensor, got {_kind(out)}")
    n = len(x)
    if out.ndim == 1:
        out = out.unsqueeze(1)
    if out.ndim != 2 or out.shape[0] != n:
        raise ValueError(
            f"model must map a batch of {n} inputs to shape ({n},) or ({n}, C), got {tuple(out.shape)}"
        )
    n_outputs = out.shape[1]
    if target is None:
        if n_outputs != 1:
            raise ValueError(
                f"target is missing: model returns {n_outputs} outputs per example; "
                f"pass target=... (an int or a tensor of {n} class indices)"
            )
        return out[:, 0]
    index = torch.as_tensor(target, device=out.device).expand(n)
    if index.min() < 0 or index.max() >= n_outputs:
        raise ValueError(
            f"target out of range: expected class indices in [0, {n_outputs - 1}] for a model "
            f"with {n_outputs} outputs per example, got indices in [{int(index.min())}, {int(index.max())}]"
        )
    return out.gather(1, index.unsqueeze(1)).squeeze(1)
