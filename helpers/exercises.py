"""Automatic checkers for the chapters' exercises.

An exercise's answer lives in a cell tagged ``solution``. In the classroom edition
(tools/student_edition.py) that cell is replaced by a placeholder that sets each
answer to ``None``; the checkers then report "not yet solved" instead of crashing, so
the student copy runs top to bottom. Each checker prints one line saying whether
the answer is right (and returns nothing, so a notebook cell shows only that line).
"""
from __future__ import annotations

from typing import Any, Callable

import torch

NOT_SOLVED = "not yet solved"


def _report(label: str, ok: bool, detail: str = "") -> None:
    if ok:
        print(f"{label}: correct ✓")
    else:
        print(f"{label}: {detail or 'not correct yet'} ✗")


def _as_tensor(value: Any) -> torch.Tensor:
    return value.detach().cpu().double() if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=torch.float64)


def check_value(label: str, answer: Any, expected: Any, *, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Compare a numeric answer (a number, list or tensor) with the expected value.
    Used in chapters 00–09."""
    if answer is None:
        return _report(label, False, NOT_SOLVED)
    try:
        a, e = _as_tensor(answer), _as_tensor(expected)
    except (TypeError, ValueError, RuntimeError):
        return _report(label, False, f"expected a number or tensor, got {type(answer).__name__}")
    if a.shape != e.shape:
        return _report(label, False, f"expected shape {tuple(e.shape)}, got {tuple(a.shape)}")
    ok = torch.allclose(a, e, atol=atol, rtol=rtol)
    gap = (a - e).abs().max().item() if a.numel() else 0.0
    return _report(label, ok, f"differs from the expected value by up to {gap:.3g}")


def check_function(label: str, answer: Callable | None, reference: Callable, cases: list[tuple],
                   *, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """Call ``answer(*case)`` and ``reference(*case)`` on each case and compare the results.
    Used in chapters 01–09."""
    if answer is None:
        return _report(label, False, NOT_SOLVED)
    if not callable(answer):
        return _report(label, False, f"expected a function, got {type(answer).__name__}")
    for i, case in enumerate(cases):
        try:
            got = answer(*case)
        except Exception as err:  # a learner's function may fail in any way; say how
            return _report(label, False, f"raised {type(err).__name__}: {err} on case {i}")
        want = reference(*case)
        if got is None:
            return _report(label, False, NOT_SOLVED)
        a, e = _as_tensor(got), _as_tensor(want)
        if a.shape != e.shape or not torch.allclose(a, e, atol=atol, rtol=rtol):
            return _report(label, False, f"gives a different result on case {i}")
    return _report(label, True)


def check_choice(label: str, answer: Any, expected: Any) -> None:
    """Compare a categorical answer (a string, int or tuple) with the expected one.
    Used in chapters 02–09."""
    if answer is None:
        return _report(label, False, NOT_SOLVED)
    return _report(label, answer == expected, f"{answer!r} is not it")
