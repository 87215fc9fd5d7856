"""The chapters' exercises: find them, list their wrong answers, and add some.

An exercise is a code cell tagged ``solution`` (the reference answer, defining the
answer names) followed by checker cells that call ``helpers.exercises`` (check_value,
check_function, check_choice) with a label such as "Exercise 2". The solution cell's
metadata lists plausible wrong answers, as source code that is run after the reference
solution and must make the checker say something other than "correct":

    "wrong_answers": {"Exercise 2": ["ring_count = 116", "ring_count = len(shapes.y)"],
                      "Exercise 3": ["def f(x):\\n    return -x"]}

The key is a checker label, or the start of several ("Exercise 4" covers "Exercise 4
(true class)" and "Exercise 4 (wrong class)"). A plain list applies to every check
after the cell (for a solution cell with one exercise). tests/test_exercises_wrong.py
runs every wrong answer; tools/nbgrader_course.py uses them for a failing submission.

    python tools/exercises.py list [chapters/NN_x.ipynb ...]
        every exercise, its checks and how many wrong answers it has; exits 1 when an
        exercise has fewer than two
    python tools/exercises.py add chapters/NN_x.ipynb "Exercise 2" "ring_count = 116"
        adds one wrong answer to the solution cell whose checks carry that label
    python tools/exercises.py apply WRONG.json [CHAPTERS_DIR]
        adds the wrong answers of a file {"NN_x": {"Exercise 2": [...]}} to the chapters

Adding metadata changes no output: the chapter need not be executed again.
"""
from __future__ import annotations

import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
CHECKERS = {"check_value", "check_function", "check_choice"}
MIN_WRONG = 2


def is_solution(cell) -> bool:
    return cell.cell_type == "code" and "solution" in cell.metadata.get("tags", [])


def _check_calls(tree: ast.AST) -> list[ast.Call]:
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in CHECKERS:
                calls.append(node)
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def _label(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def is_checker(cell) -> bool:
    if cell.cell_type != "code" or is_solution(cell):
        return False
    try:
        return bool(_check_calls(ast.parse(cell.source)))
    except SyntaxError:
        return False


@dataclass
class Group:
    """A run of top-level statements of a checker cell that ends with checks: what an
    autograder runs as one test cell (the earlier statements set up what it needs)."""
    source: str
    labels: list[str]          # the labels of its check calls ("" when not a literal)


def checker_groups(source: str) -> list[Group]:
    """Split a checker cell after each top-level statement that calls a checker; the
    statements after the last check join the last group."""
    tree = ast.parse(source)
    lines = source.split("\n")
    groups, start = [], 0
    for stmt in tree.body:
        calls = _check_calls(stmt)
        if not calls:
            continue
        end = stmt.end_lineno
        groups.append(Group("\n".join(lines[start:end]).strip("\n"), [_label(c) or "" for c in calls]))
        start = end
    rest = "\n".join(lines[start:]).strip("\n")
    if rest and groups:
        groups[-1].source += "\n" + rest
    elif rest:
        groups.append(Group(rest, []))
    return groups


@dataclass
class Exercise:
    """One solution cell and the checks that follow it."""
    solution: int                              # the index of the solution cell
    checkers: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    wrong: dict[str, list[str]] = field(default_factory=dict)   # key -> wrong sources

    def keys(self) -> list[str]:
        """The exercises' names: labels up to a parenthesis ("Exercise 4 (true class)"
        -> "Exercise 4"), in order, each once."""
        names = []
        for label in self.labels:
            name = label.split(" (")[0].strip()
            if name not in names:
                names.append(name)
        return names

    def wrong_for(self, key: str) -> list[str]:
        return list(self.wrong.get(key, [])) + list(self.wrong.get("*", []))

    def labels_for(self, key: str) -> list[str]:
        if key == "*":
            return list(self.labels)
        return [label for label in self.labels if label == key or label.startswith(key + " (")
                or label.startswith(key + ":")]


def wrong_answers(cell) -> dict[str, list[str]]:
    """The solution cell's wrong answers as {key: [source, ...]} ("*": every check)."""
    value = cell.metadata.get("wrong_answers", {})
    if isinstance(value, list):
        return {"*": list(value)}
    return {key: list(v) for key, v in value.items()}


def exercises_of(nb) -> list[Exercise]:
    found = []
    for i, cell in enumerate(nb.cells):
        if is_solution(cell):
            found.append(Exercise(i, wrong=wrong_answers(cell)))
        elif found and is_checker(cell):
            found[-1].checkers.append(i)
            for call in _check_calls(ast.parse(cell.source)):
                found[-1].labels.append(_label(call) or "")
    return found


def shortfalls(nb) -> list[tuple[str, int]]:
    """(exercise name, number of wrong answers) for each exercise with fewer than two."""
    short = []
    for ex in exercises_of(nb):
        for key in ex.keys() or ["(checks without a literal label)"]:
            count = len(ex.wrong_for(key))
            if count < MIN_WRONG:
                short.append((key, count))
        stray = [k for k in ex.wrong if k != "*" and k not in ex.keys()]
        short += [(f"{k} (a wrong-answer key that no check's label matches)", -1) for k in stray]
    return short


def add(path: Path, key: str, source: str) -> None:
    nb = nbformat.read(path, as_version=4)
    for ex in exercises_of(nb):
        if key in ex.keys():
            cell = nb.cells[ex.solution]
            wrong = wrong_answers(cell)
            if source not in wrong.setdefault(key, []):
                wrong[key].append(source)
            cell.metadata["wrong_answers"] = wrong
            nbformat.write(nb, path)
            return
    raise SystemExit(f"{path.name}: no check labelled {key!r}")


def apply(table: dict, chapters_dir: Path) -> None:
    for stem, entries in table.items():
        path = chapters_dir / f"{stem}.ipynb"
        for key, sources in entries.items():
            for source in sources:
                add(path, key, source)


def main(args: list[str]) -> int:
    if args and args[0] == "list":
        paths = [Path(a) for a in args[1:]] or sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
        lacking = 0
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            short = dict(shortfalls(nb))
            for ex in exercises_of(nb):
                for key in ex.keys():
                    n = len(ex.wrong_for(key))
                    mark = "  <- needs at least 2" if key in short else ""
                    print(f"{path.stem}  {key}: {n} wrong answer(s){mark}")
            lacking += len(short)
        print(f"{lacking} exercise(s) with fewer than {MIN_WRONG} wrong answers")
        return 1 if lacking else 0
    if len(args) == 4 and args[0] == "add":
        add(Path(args[1]), args[2], args[3])
        return 0
    if len(args) in (2, 3) and args[0] == "apply":
        apply(json.loads(Path(args[1]).read_text()), Path(args[2]) if len(args) == 3 else ROOT / "chapters")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
