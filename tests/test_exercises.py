"""The exercise checkers report right, wrong and unsolved answers without raising."""
import torch

from helpers import exercises


def lines(capsys):
    return capsys.readouterr().out.splitlines()


def test_check_value(capsys):
    exercises.check_value("E1", 3, 3)
    exercises.check_value("E2", None, 3)
    exercises.check_value("E3", [1.0, 2.0], torch.tensor([1.0, 2.5]))
    exercises.check_value("E4", "three", 3)
    exercises.check_value("E5", [1.0], [1.0, 2.0])
    out = lines(capsys)
    assert out[0] == "E1: correct ✓"
    assert out[1] == "E2: not yet solved ✗"
    assert "differs from the expected value by up to 0.5" in out[2]
    assert "expected a number" in out[3] and "expected shape (2,)" in out[4]


def test_check_function(capsys):
    cases = [(torch.tensor([1.0, -2.0]),)]
    exercises.check_function("F1", lambda x: 2 * x, lambda x: x + x, cases)
    exercises.check_function("F2", None, lambda x: x, cases)
    exercises.check_function("F3", lambda x: 1 / 0, lambda x: x, cases)
    exercises.check_function("F4", lambda x: x, lambda x: -x, cases)
    exercises.check_function("F5", 42, lambda x: x, cases)
    out = lines(capsys)
    assert out[0] == "F1: correct ✓" and out[1] == "F2: not yet solved ✗"
    assert "ZeroDivisionError" in out[2] and "different result on case 0" in out[3]
    assert "expected a function" in out[4]


def test_check_choice(capsys):
    exercises.check_choice("C1", "b", "b")
    exercises.check_choice("C2", None, "b")
    exercises.check_choice("C3", "a", "b")
    assert lines(capsys) == ["C1: correct ✓", "C2: not yet solved ✗", "C3: 'a' is not it ✗"]
