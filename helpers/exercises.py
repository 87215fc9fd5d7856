"""Automatic checkers for the chapters' exercises.

An exercise's answer lives in a cell tagged ``solution``. In the classroom edition
(tools/student_edition.py) that cell is replaced by a placeholder that sets each
answer to ``None``; the checkers then report "not yet solved" instead of crashing, so
the student copy runs top to bottom. Each checker prints one line saying whether
the answer is right (and returns nothing, so a notebook cell shows only that line).

What a checker says about a wrong answer never gives the answer away: it does not
print the expected value, nor how far the answer is from it (which would let a reader
home in on it by trial), nor whether it is too large or too small. It names the kind
of mistake where it can tell:

- a wrong shape, or the right numbers in a different shape or order;
- a flipped sign, or (for several numbers) the right pattern off by a constant factor;
- a known wrong answer that the chapter names with ``mistakes={"description": value}``
  (for example ``{"a forward difference": forward_value}``), without saying which
  value is right;
- an optional ``hint`` printed under a wrong answer.

Equivalent forms are accepted: ints, floats, NumPy and PyTorch numbers alike; a list,
tuple or array for a sequence; a list, tuple or set where the expected answer is a set
(order does not matter); strings compared without letter case, surrounding spaces,
and with ``_``, ``-`` and spaces treated alike ("Integrated gradients" matches
"integrated_gradients"), and ``(b)`` or ``b)`` for the option ``b``.

For graded work (tools/nbgrader_course.py) the same checks run inside
``with graded():``, where a wrong or missing answer raises ``AssertionError`` so that
the grader gives the test cell no points.
"""
from __future__ import annotations

import contextlib
import math
import re
import textwrap
from typing import Any, Callable, Iterator

import numpy as np
import torch

NOT_SOLVED = "not yet solved"
CORRECT = "correct ✓"

_GRADED = False


@contextlib.contextmanager
def graded() -> Iterator[None]:
    """Within this block a checker raises ``AssertionError`` on any answer that is not
    correct (after printing its line), so that an autograder marks the cell failed."""
    global _GRADED
    before, _GRADED = _GRADED, True
    try:
        yield
    finally:
        _GRADED = before


def _report(label: str, ok: bool, detail: str = "", hint: str | None = None) -> None:
    if ok:
        print(f"{label}: {CORRECT}")
        return
    line = f"{label}: {detail or 'not correct yet'} ✗"
    print(_wrap(line))
    if hint and detail != NOT_SOLVED:
        print(_wrap(f"Hint: {hint}", indent="  "))
    if _GRADED:
        raise AssertionError(line)


def _wrap(text: str, indent: str = "") -> str:
    """Lines of at most 88 characters (the book's limit), continued with an indent."""
    return textwrap.fill(text, width=88, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False)


# --- numbers --------------------------------------------------------------------

def _as_array(value: Any) -> np.ndarray:
    """A float64 array from a number, a (nested) list/tuple, a NumPy array or a tensor.
    Raises TypeError for anything that is not numbers."""
    if isinstance(value, (str, bytes, dict, set, frozenset)) or value is None or callable(value):
        raise TypeError(type(value).__name__)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    if isinstance(value, (list, tuple)):
        value = [_as_array(v) for v in value]
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(type(value).__name__) from err
    return array


def _kind(value: Any) -> str:
    return type(value).__name__


def _close(a: np.ndarray, e: np.ndarray, atol: float, rtol: float) -> bool:
    return a.shape == e.shape and bool(np.allclose(a, e, atol=atol, rtol=rtol, equal_nan=False))


def _same_squeezed(a: np.ndarray, e: np.ndarray, atol: float, rtol: float) -> bool:
    """The same numbers once size-1 axes are dropped: (1, 3) and (3,) are one answer."""
    return a.size == e.size and _close(np.squeeze(a), np.squeeze(e), atol, rtol) \
        and np.squeeze(a).shape == np.squeeze(e).shape


def _numeric_diagnosis(a: np.ndarray, e: np.ndarray, atol: float, rtol: float) -> str:
    """The kind of numeric mistake, worded without the expected value or the error's
    size ("" when it has no name). ``a`` and ``e`` have the same shape."""
    if not np.all(np.isfinite(a)):
        return "it contains NaN or infinite values"
    big = np.abs(e).max(initial=0.0) > atol
    if big and np.allclose(a, -e, atol=atol, rtol=rtol):
        return "the sign is flipped"
    if a.size > 1:
        if a.ndim == 2 and a.shape[0] == a.shape[1] > 1 and np.allclose(a, e.T, atol=atol, rtol=rtol):
            return "it is transposed"
        if np.allclose(np.sort(a, axis=None), np.sort(e, axis=None), atol=atol, rtol=rtol):
            return "the right numbers in the wrong order or places"
        ee = float((e * e).sum())
        if big and ee > 0 and np.ptp(e) > atol:  # a constant reference fits any factor
            factor = float((a * e).sum()) / ee
            if abs(factor - 1) > 1e-3 and abs(factor) > 1e-12 and np.allclose(a, factor * e, atol=atol, rtol=rtol):
                return "off by a constant factor (the pattern is right, the scale is not)"
    return ""


def _matches(answer: Any, value: Any, atol: float, rtol: float) -> bool:
    try:
        a, e = _as_array(answer), _as_array(value)
    except TypeError:
        return _choice_equal(answer, value)
    return _close(a, e, atol, rtol) or _same_squeezed(a, e, atol, rtol)


def _named_mistake(answer: Any, mistakes: dict | None, atol: float, rtol: float) -> str | None:
    for description, value in (mistakes or {}).items():
        if _matches(answer, value, atol, rtol):
            return f"this looks like {description}"
    return None


def check_value(label: str, answer: Any, expected: Any, *, atol: float = 1e-6, rtol: float = 1e-5,
                mistakes: dict[str, Any] | None = None, hint: str | None = None) -> None:
    """Compare a numeric answer (a number, list, NumPy array or tensor) with the expected
    value, within ``atol + rtol * |expected|``. ``mistakes`` maps a description of a
    known wrong answer to its value; ``hint`` is printed under a wrong answer.
    Used in chapters 00–12.
    """
    if answer is None:
        return _report(label, False, NOT_SOLVED)
    e = _as_array(expected)
    try:
        a = _as_array(answer)
    except TypeError:
        return _report(label, False, f"expected a number or numbers, got {_kind(answer)}", hint)
    if _close(a, e, atol, rtol) or _same_squeezed(a, e, atol, rtol):
        return _report(label, True)
    named = _named_mistake(answer, mistakes, atol, rtol)
    if named:
        return _report(label, False, named, hint)
    if a.size != e.size or np.squeeze(a).shape != np.squeeze(e).shape:
        if e.size == 1:
            return _report(label, False, f"expected a single number, got shape {a.shape}", hint)
        return _report(label, False, f"wrong shape: got {a.shape}, expected {e.shape}", hint)
    a = a.reshape(e.shape)
    if e.size == 1 and float(e) == round(float(e)) and np.isfinite(a).all() and float(a) != round(float(a)) \
            and abs(float(e)) >= 1:
        return _report(label, False, "expected a whole number", hint)
    return _report(label, False, _numeric_diagnosis(a, e, atol, rtol) or "not correct yet", hint)


# --- functions ------------------------------------------------------------------

def _copy_arg(value: Any) -> Any:
    """A copy of a tensor argument (so an answer cannot change what the reference sees)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def _describe_case(case: tuple) -> str:
    parts = []
    for value in case:
        if isinstance(value, (torch.Tensor, np.ndarray)):
            parts.append(f"shape {tuple(value.shape)}")
        elif isinstance(value, torch.nn.Module):
            parts.append(type(value).__name__)
        elif isinstance(value, (int, float, str)) or value is None:
            parts.append(repr(value))
        else:
            parts.append(type(value).__name__)
    return ", ".join(parts)


def check_function(label: str, answer: Callable | None, reference: Callable, cases: list[tuple],
                   *, atol: float = 1e-6, rtol: float = 1e-5,
                   mistakes: dict[str, Callable] | None = None, hint: str | None = None) -> None:
    """Call ``answer(*case)`` and ``reference(*case)`` on each case and compare the results.

    A wrong shape is told apart from wrong values; neither the reference's output nor
    the size of the difference is printed. ``mistakes`` maps a description of a known
    wrong implementation to a function; an answer that agrees with one of them on
    every case is named ("this looks like ...").
    Used in chapters 01 and 03–12.
    """
    if answer is None:
        return _report(label, False, NOT_SOLVED)
    if not callable(answer):
        return _report(label, False, f"expected a function, got {_kind(answer)}", hint)
    first_problem = None
    for i, case in enumerate(cases):
        want = reference(*[_copy_arg(v) for v in case])
        args = [_copy_arg(v) for v in case]
        where = f"on case {i} (arguments: {_describe_case(case)})"
        try:
            got = answer(*args)
        except Exception as err:  # a learner's function may fail in any way; say how
            return _report(label, False, f"raised {type(err).__name__}: {str(err)[:200]} {where}", hint)
        if any(isinstance(x, torch.Tensor) and not torch.equal(x, y) for x, y in zip(args, case)
               if isinstance(y, torch.Tensor) and x.shape == y.shape):
            return _report(label, False, f"changed its input tensor in place {where}; work on a copy", hint)
        if got is None:
            return _report(label, False, f"returned None {where} (a missing `return`?)", hint)
        try:
            a = _as_array(got)
        except TypeError:
            return _report(label, False, f"returned a {_kind(got)} {where}; expected numbers", hint)
        e = _as_array(want)
        if _close(a, e, atol, rtol):
            continue
        if a.shape != e.shape:
            if _same_squeezed(a, e, atol, rtol) or (a.size == e.size and _close(a.reshape(e.shape), e, atol, rtol)):
                detail = f"has the right values in the wrong shape {where}: got {a.shape}, expected {e.shape}"
            else:
                detail = f"returns the wrong shape {where}: got {a.shape}, expected {e.shape}"
            return _report(label, False, detail, hint)
        first_problem = (i, _numeric_diagnosis(a, e, atol, rtol) or "the values are wrong", where)
        break
    if first_problem is None:
        return _report(label, True)
    named = _named_function_mistake(answer, mistakes, cases, atol, rtol)
    if named:
        return _report(label, False, named, hint)
    i, diagnosis, where = first_problem
    return _report(label, False, f"the shape is right, but {diagnosis} {where}", hint)


def _named_function_mistake(answer: Callable, mistakes: dict | None, cases: list[tuple],
                            atol: float, rtol: float) -> str | None:
    for description, wrong in (mistakes or {}).items():
        try:
            if all(_matches(answer(*[_copy_arg(v) for v in case]), wrong(*[_copy_arg(v) for v in case]), atol, rtol)
                   for case in cases):
                return f"this looks like {description}"
        except Exception:  # noqa: BLE001 - a mistake that fails on a case is simply not this one
            continue
    return None


# --- choices --------------------------------------------------------------------

def _norm_text(text: str) -> str:
    text = re.sub(r"[\s_\-]+", " ", text.strip().casefold())
    option = re.fullmatch(r"\(?([a-z0-9])[).]?", text)  # "(b)", "b)", "b." -> "b"
    return option.group(1) if option else text


def _norm_item(value: Any) -> Any:
    if isinstance(value, str):
        return ("text", _norm_text(value))
    if isinstance(value, (bool, np.bool_)):
        return ("number", float(value))
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return ("number", number if math.isfinite(number) else str(number))
    if isinstance(value, (list, tuple)):
        return ("sequence", tuple(_norm_item(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(_norm_item(v) for v in value))
    return ("other", value)


def _choice_equal(answer: Any, expected: Any, ordered: bool | None = None) -> bool:
    a, e = _norm_item(answer), _norm_item(expected)
    unordered = e[0] == "set" if ordered is None else not ordered
    if unordered and a[0] in ("set", "sequence") and e[0] in ("set", "sequence"):
        items = list(a[1])
        return len(set(items)) == len(items) and frozenset(items) == frozenset(e[1])
    try:
        return a == e
    except Exception:  # noqa: BLE001 - objects whose == does not give a bool are not equal
        return False


def check_choice(label: str, answer: Any, expected: Any, *, ordered: bool | None = None,
                 options: list | tuple | None = None, mistakes: dict[str, Any] | None = None,
                 hint: str | None = None) -> None:
    """Compare a categorical answer (a string, a number, or several of them) with the
    expected one. Strings are compared without letter case or surrounding spaces. When
    ``expected`` is a set (or ``ordered=False``), a list, tuple or set with the same
    members is accepted; a tuple or list ``expected`` is ordered unless ``ordered=False``.
    ``options`` lists the valid choices, so that a typo is told apart from a wrong pick.
    Used in chapters 02, 03, 05–08, 11 and 12.
    """
    if answer is None:
        return _report(label, False, NOT_SOLVED)
    if _choice_equal(answer, expected, ordered):
        return _report(label, True)
    for description, value in (mistakes or {}).items():
        if _choice_equal(answer, value, ordered):
            return _report(label, False, f"this looks like {description}", hint)
    a, e = _norm_item(answer), _norm_item(expected)
    several = e[0] in ("set", "sequence")
    if several and a[0] not in ("set", "sequence"):
        return _report(label, False, f"expected several items (a {'set' if e[0] == 'set' else 'tuple'}), "
                                     f"got one {_kind(answer)}", hint)
    if not several and a[0] in ("set", "sequence"):
        return _report(label, False, f"expected a single choice, got a {_kind(answer)}", hint)
    if e[0] == "text" and a[0] != "text" and not several:
        return _report(label, False, f"expected a name (a string), got {_kind(answer)}", hint)
    if options is not None:
        valid = {_norm_item(o) for o in options}
        given = list(a[1]) if several else [a]
        unknown = [item for item in given if item not in valid]
        if unknown:
            names = ", ".join(repr(o) for o in options)
            return _report(label, False, f"not one of the options ({names})", hint)
    if several and e[0] == "sequence" and (ordered is None or ordered) and a[0] in ("set", "sequence") \
            and len(a[1]) == len(e[1]) and frozenset(a[1]) == frozenset(e[1]):
        if a[0] == "set":
            return _report(label, False, "the order matters here: give a tuple, not a set", hint)
        return _report(label, False, "the right items in the wrong order", hint)
    if not several and a[0] == "text":
        return _report(label, False, f"{answer.strip()!r} is not it", hint)
    return _report(label, False, "not correct yet", hint)
