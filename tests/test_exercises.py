"""The exercise checkers: right, wrong and unsolved answers, without giving answers away."""
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import exercises


def lines(capsys):
    return capsys.readouterr().out.splitlines()


def verdict(capsys, checker, *args, **kwargs):
    """What the checker printed, its wrapped lines joined by single spaces."""
    checker("Q", *args, **kwargs)
    return " ".join(capsys.readouterr().out.split())


# --- check_value ------------------------------------------------------------------

@pytest.mark.parametrize("answer", [45, 45.0, np.int64(45), np.float32(45), torch.tensor(45), torch.tensor([45.0]),
                                    [45]])
def test_value_accepts_every_numeric_form(capsys, answer):
    assert verdict(capsys, exercises.check_value, answer, 45) == "Q: correct ✓"


@pytest.mark.parametrize("answer", [[1.0, 2.0], (1.0, 2.0), np.array([1.0, 2.0]), torch.tensor([[1.0, 2.0]]),
                                    torch.tensor([1.0, 2.0], requires_grad=True)])
def test_value_accepts_sequences_and_singleton_axes(capsys, answer):
    assert verdict(capsys, exercises.check_value, answer, torch.tensor([1.0, 2.0])) == "Q: correct ✓"


def test_value_unsolved_and_wrong_type(capsys):
    assert verdict(capsys, exercises.check_value, None, 3) == "Q: not yet solved ✗"
    assert verdict(capsys, exercises.check_value, "three", 3) == "Q: expected a number or numbers, got str ✗"


def test_value_names_the_kind_of_mistake(capsys):
    check = exercises.check_value
    assert "sign is flipped" in verdict(capsys, check, -3.0, 3.0)
    assert "constant factor" in verdict(capsys, check, [2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert "wrong order" in verdict(capsys, check, [2.0, 1.0], [1.0, 2.0])
    assert "transposed" in verdict(capsys, check, [[1.0, 3.0], [2.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]])
    assert "wrong shape: got (3,), expected (2,)" in verdict(capsys, check, [1, 2, 3], [1, 2])
    assert "expected a single number" in verdict(capsys, check, [1, 2], 3)
    assert "whole number" in verdict(capsys, check, 44.5, 45)
    assert "NaN" in verdict(capsys, check, [float("nan"), 1.0], [1.0, 2.0])


def test_value_names_a_known_mistake_without_the_right_answer(capsys):
    out = verdict(capsys, exercises.check_value, 116, 100,
                  mistakes={"the number of test images (the question asks for training)": 116})
    assert "this looks like the number of test images" in out and "100" not in out


def test_value_hint_is_shown_only_under_a_wrong_answer(capsys):
    assert verdict(capsys, exercises.check_value, 3, 3, hint="count the rings") == "Q: correct ✓"
    assert verdict(capsys, exercises.check_value, 4, 3, hint="count the rings").endswith("✗ Hint: count the rings")
    assert "Hint" not in verdict(capsys, exercises.check_value, None, 3, hint="count the rings")


@settings(max_examples=200, deadline=None)
@given(expected=st.integers(-10**6, 10**6), offset=st.integers(1, 10**4), scale=st.sampled_from([1, 0.5, 3]))
def test_value_never_prints_the_answer_or_the_gap(expected, offset, scale):
    """No wrong answer makes the checker print the expected value or the distance to it,
    nor a direction (too large/too small) that would let a reader search for it."""
    import contextlib
    import io
    for answer in (expected + offset, expected - offset, expected * scale + offset):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exercises.check_value("Q", answer, expected)
        text = out.getvalue().replace("Q:", "")
        numbers = set(re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text))
        assert numbers <= {str(answer), str(float(answer))}, text
        assert not re.search(r"large|small|big|high|low|differ|by up to", text), text


def test_vectors_do_not_print_values_or_gaps(capsys):
    expected = torch.tensor([0.25, -1.5, 3.75])
    for answer in ([0.3, -1.5, 3.75], [1.0, 1.0, 1.0], [0.5, -3.0, 7.5]):
        out = verdict(capsys, exercises.check_value, answer, expected)
        assert not re.search(r"0\.25|1\.5|3\.75|0\.05|differ", out), out


# --- check_function ---------------------------------------------------------------

CASES = [(torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]]),), (torch.arange(6.0).reshape(3, 2),)]


def row_sums(x):
    return x.sum(1, keepdim=True)


def test_function_right_unsolved_and_not_a_function(capsys):
    assert verdict(capsys, exercises.check_function, lambda x: x.sum(-1, keepdim=True), row_sums, CASES) \
        == "Q: correct ✓"
    assert verdict(capsys, exercises.check_function, None, row_sums, CASES) == "Q: not yet solved ✗"
    assert "expected a function, got int" in verdict(capsys, exercises.check_function, 42, row_sums, CASES)


def test_function_tells_a_shape_mistake_from_a_maths_error(capsys):
    check = exercises.check_function
    out = verdict(capsys, check, lambda x: x.sum(1), row_sums, CASES)
    assert "right values in the wrong shape" in out and "got (2,), expected (2, 1)" in out
    out = verdict(capsys, check, lambda x: x.sum(0), row_sums, CASES)
    assert "wrong shape" in out and "right values" not in out
    out = verdict(capsys, check, lambda x: x.abs().sum(1, keepdim=True), row_sums, CASES)
    assert "the shape is right, but the values are wrong on case 0" in out
    assert "sign is flipped" in verdict(capsys, check, lambda x: -row_sums(x), row_sums, CASES)
    assert "constant factor" in verdict(capsys, check, lambda x: 2 * x, lambda x: x, CASES)


def test_function_does_not_reveal_the_expected_output(capsys):
    out = verdict(capsys, exercises.check_function, lambda x: x.abs().sum(1, keepdim=True), row_sums, CASES)
    assert "-0.5" not in out and "2.0" not in out and "tensor" not in out


def test_function_reports_errors_missing_returns_and_in_place_changes(capsys):
    check = exercises.check_function
    assert "raised ZeroDivisionError" in verdict(capsys, check, lambda x: 1 / 0, row_sums, CASES)
    assert "returned None" in verdict(capsys, check, lambda x: None, row_sums, CASES)
    assert "in place" in verdict(capsys, check, lambda x: x.mul_(2).sum(1, keepdim=True), row_sums, CASES)
    assert "expected numbers" in verdict(capsys, check, lambda x: "text", row_sums, CASES)
    # the reference sees the original inputs even when the answer changes its own copy
    original = CASES[0][0].clone()
    verdict(capsys, check, lambda x: x.mul_(2), row_sums, CASES)
    assert torch.equal(CASES[0][0], original)


def test_function_names_known_mistakes(capsys):
    def central(f, x, h=1e-4):
        return (f(x + h) - f(x - h)) / (2 * h)

    def forward(f, x, h=1e-4):
        return (f(x + h) - f(x)) / h

    cases = [(torch.exp, torch.tensor([0.0, 1.0], dtype=torch.float64))]
    out = verdict(capsys, exercises.check_function, forward, central, cases, atol=1e-7,
                  mistakes={"a forward difference (use a central one)": forward})
    assert "this looks like a forward difference" in out


# --- check_choice -----------------------------------------------------------------

@pytest.mark.parametrize("answer,expected", [
    ("b", "b"), ("B", "b"), (" b ", "b"), ("(b)", "b"), ("b)", "b"),
    ("Integrated Gradients", "integrated_gradients"), ("logit ", "logit"),
    (["lrp", "deeplift"], ("lrp", "deeplift")), (("LRP", "DeepLIFT"), ("lrp", "deeplift")),
    (["b", "a"], {"a", "b"}), (("a", "b"), {"a", "b"}), (frozenset({"a", "b"}), {"a", "b"}),
    (3, 3), (np.int64(3), 3), (torch.tensor(3), 3), (3.0, 3),
])
def test_choice_accepts_equivalent_forms(capsys, answer, expected):
    assert verdict(capsys, exercises.check_choice, answer, expected) == "Q: correct ✓"


def test_choice_explains_wrong_answers(capsys):
    check = exercises.check_choice
    assert verdict(capsys, check, None, "b") == "Q: not yet solved ✗"
    assert verdict(capsys, check, "a", "b") == "Q: 'a' is not it ✗"
    assert "wrong order" in verdict(capsys, check, ("deeplift", "lrp"), ("lrp", "deeplift"))
    assert "order matters" in verdict(capsys, check, {"deeplift", "lrp"}, ("lrp", "deeplift"))
    assert "expected several items" in verdict(capsys, check, "a", {"a", "b"})
    assert "single choice" in verdict(capsys, check, ["a"], "a")
    assert "not correct yet" in verdict(capsys, check, ["a", "a", "b"], {"a", "b"})
    assert "not one of the options" in verdict(capsys, check, "z", "b", options="abc")
    assert "'c' is not it" in verdict(capsys, check, "c", "b", options="abc")
    assert "expected a name" in verdict(capsys, check, 2, "b")
    assert "this looks like the test set" in verdict(capsys, check, "test", "train",
                                                      mistakes={"the test set": "test"})


def test_choice_of_a_set_does_not_say_what_is_missing_or_extra(capsys):
    out = verdict(capsys, exercises.check_choice, {"a", "c"}, {"a", "b"})
    assert "'b'" not in out and "missing" not in out and "extra" not in out


# --- graded mode and line length --------------------------------------------------

def test_graded_mode_raises_on_any_answer_that_is_not_correct(capsys):
    with exercises.graded():
        exercises.check_value("Q", 3, 3)
        with pytest.raises(AssertionError, match="not yet solved"):
            exercises.check_value("Q", None, 3)
        with pytest.raises(AssertionError):
            exercises.check_choice("Q", "a", "b")
        with pytest.raises(AssertionError):
            exercises.check_function("Q", lambda x: x, lambda x: -x, CASES)
    exercises.check_value("Q", 4, 3)  # outside the block: prints, does not raise
    assert lines(capsys)[-1].endswith("✗")


def test_printed_lines_fit_the_books_width(capsys):
    exercises.check_function("Exercise 3 (a long label for a long exercise)", lambda a, b, c: a.sum(),
                             lambda a, b, c: a, [(torch.ones(4, 1, 8, 8), torch.ones(4, 1, 8, 8), "trapezoid")],
                             hint="sum over the path with the trapezoid weights 1/2, 1, ..., 1, 1/2")
    out = lines(capsys)
    assert len(out) > 1 and all(len(line) <= 88 for line in out)
