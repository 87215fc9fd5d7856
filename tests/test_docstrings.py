"""The "Used in chapter NN" lines of the helpers' docstrings tell the truth.

A public function or class of `helpers` names, in its docstring, every chapter whose
code uses it, and no other. "Uses" is read from the chapters present (their code cells,
parsed): the name imported from `helpers` (`from helpers.metrics import mask_mass`) or
reached through an imported module (`metrics.mask_mass`, `helpers.metrics.mask_mass`).
So when a chapter starts or stops using a helper, this test says which line to change.

The forms read as claims (anywhere in the docstring, one or more):
    Used in chapters 02, 03 and 09.      Used in chapter 01.      Used in chapters 01–09.
    Introduced in chapter 05; used in chapters 05–08.             Chapters 05 and 08.
"Introduced in chapter NN" must also be the first chapter that uses it. A cross-reference
such as "(see chapter 04)" is not a claim. A module may make the same claims in its own
docstring (and helpers/__init__.py in its "name -- description" lines); they are checked
against what the chapters use from the whole module.
"""
import ast
import functools
import importlib
import inspect
import pkgutil
import re

import nbformat
import pytest

import helpers
from tools import book

MODULES = sorted(m.name for m in pkgutil.iter_modules(helpers.__path__) if not m.name.startswith("_"))
NUMBER = r"\d{2}(?:\s*[–-]\s*\d{2})?(?:\s*\([^)]*\))?"
SEPARATOR = r"(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*)(?:chapters?\s+)?"
CLAIM = re.compile(rf"(?P<kind>[Uu]sed in|[Ii]ntroduced in|\bChapters?\b)(?:\s+chapters?)?"
                   rf"\s+(?P<list>{NUMBER}(?:{SEPARATOR}{NUMBER})*)")


# --- what the docstrings claim -----------------------------------------------------

def chapters_in(text):
    """The chapter numbers of a claim's list: "02, 03 (maps) and 07–09" -> 02 03 07 08 09."""
    text = re.sub(r"\([^)]*\)", "", text)
    numbers = set()
    for first, last in re.findall(r"(\d{2})(?:\s*[–-]\s*(\d{2}))?", text):
        numbers |= {f"{n:02d}" for n in range(int(first), int(last or first) + 1)}
    return numbers


def claims(docstring):
    """(chapters named, chapter given as "Introduced in", if any) of one docstring."""
    named, introduced = set(), None
    for match in CLAIM.finditer(" ".join((docstring or "").split())):
        numbers = chapters_in(match["list"])
        named |= numbers
        if match["kind"].lower() == "introduced in":
            introduced = min(numbers)
    return named, introduced


def module_line_claims():
    """Claims of helpers/__init__.py's "name -- description (used in chapters ...)" lines."""
    found = {}
    for line in (helpers.__doc__ or "").splitlines():
        match = re.match(r"\s*(\w+)\s+--\s+(.*)", line)
        if match and match[1] in MODULES:
            found[match[1]] = claims(match[2])[0]
    return found


def public_members(module):
    names = getattr(module, "__all__", None) or [
        name for name, obj in vars(module).items()
        if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__]
    return {name: getattr(module, name) for name in names
            if inspect.isfunction(getattr(module, name)) or inspect.isclass(getattr(module, name))}


# --- what the chapters use -----------------------------------------------------------

def code_cells(stem):
    nb = nbformat.read(book.CHAPTERS_DIR / f"{stem}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            # IPython's magics and shell escapes are not Python.
            yield "\n".join(line for line in cell.source.splitlines()
                            if not line.lstrip().startswith(("%", "!")))


def helpers_used(stem):
    """{(module, name)} of the helpers that a chapter's code refers to."""
    trees = [ast.parse(source) for source in code_cells(stem)]
    module_alias, name_alias = {}, {}       # local name -> module / (module, name)
    for node in (n for tree in trees for n in ast.walk(tree)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] != "helpers":
                continue
            for alias in node.names:
                if len(parts) == 1:
                    module_alias[alias.asname or alias.name] = alias.name
                else:
                    name_alias[alias.asname or alias.name] = (parts[1], alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "helpers" and len(parts) > 1 and alias.asname:
                    module_alias[alias.asname] = parts[1]
    used = set()
    for node in (n for tree in trees for n in ast.walk(tree)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in module_alias:
            used.add((module_alias[node.value.id], node.attr))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "helpers":
            used.add((node.value.attr, node.attr))
        elif isinstance(node, ast.Name) and node.id in name_alias:
            used.add(name_alias[node.id])
    return used


@functools.lru_cache(maxsize=1)
def usage():
    """{(module, name): {chapter numbers}} over the chapters present."""
    table = {}
    for stem in book.existing_chapters():
        for key in helpers_used(stem):
            table.setdefault(key, set()).add(stem[:2])
    return table


def sentence(chapters):
    """The line to write for a set of chapters: "Used in chapters 02, 03 and 07–09."."""
    if not chapters:
        return "no chapter uses it: name none"
    numbers = sorted(int(c) for c in chapters)
    runs, start = [], numbers[0]
    for previous, current in zip(numbers, numbers[1:] + [None]):
        if current != previous + 1:
            runs.append(f"{start:02d}" if previous == start else
                        f"{start:02d}, {previous:02d}" if previous == start + 1 else
                        f"{start:02d}–{previous:02d}")
            start = current
    items = ", ".join(runs).rsplit(", ", 1)
    text = " and ".join(items) if len(items) == 2 else items[0]
    return f'"Used in chapter{"s" if len(numbers) > 1 else ""} {text}."'


def fmt(chapters):
    return ", ".join(sorted(chapters)) or "none"


# --- the tests -------------------------------------------------------------------------

def test_claim_parser_reads_the_documented_forms():
    assert claims("Used in chapters 02, 03 and 09.") == ({"02", "03", "09"}, None)
    assert claims("Used in chapters 04 (Taylor view) and 05 (completeness).")[0] == {"04", "05"}
    assert claims("Introduced in chapter 05; used in chapters 05–08.") == ({"05", "06", "07", "08"}, "05")
    assert claims("Used in chapter 08 (related methods) and chapter 09.")[0] == {"08", "09"}
    assert claims("Chapters 05 and 08.")[0] == {"05", "08"}
    assert claims("Used in chapters\n    01-03 and 07.")[0] == {"01", "02", "03", "07"}
    assert claims("gives a homogeneous network (see chapter 04). 12 steps")[0] == set()
    assert sentence({"02", "03", "07", "08", "09"}) == '"Used in chapters 02, 03 and 07–09."'
    assert sentence({"01"}) == '"Used in chapter 01."'


def test_usage_reader_finds_every_way_a_chapter_reaches_a_helper(tmp_path, monkeypatch):
    cells = ["from helpers import metrics, plotting as P\nfrom helpers.attribution import gradient as g",
             "import helpers.data as D\nimport helpers\n%matplotlib inline",
             "metrics.mask_mass(m, s); P.heatmap(a); g(f, x); D.load_digits(); helpers.models.build()",
             "# attribution.smoothgrad only in a comment\ngradient = 1  # a local name"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(nb, tmp_path / "99_test.ipynb")
    monkeypatch.setattr(book, "CHAPTERS_DIR", tmp_path)
    assert helpers_used("99_test") == {("metrics", "mask_mass"), ("plotting", "heatmap"),
                                       ("attribution", "gradient"), ("data", "load_digits"),
                                       ("models", "build")}


@pytest.mark.parametrize("module_name", MODULES)
def test_docstrings_name_exactly_the_chapters_that_use_each_helper(module_name):
    module = importlib.import_module(f"helpers.{module_name}")
    table = usage()
    wrong = []
    for name, obj in sorted(public_members(module).items()):
        named, introduced = claims(inspect.getdoc(obj))
        used = table.get((module_name, name), set())
        if named != used:
            wrong.append(f"  {name}: docstring names {fmt(named)}; chapters' code uses it in "
                         f"{fmt(used)} -> {sentence(used)}")
        elif introduced and used and introduced != min(used):
            wrong.append(f"  {name}: 'Introduced in chapter {introduced}', but chapter "
                         f"{min(used)} already uses it")
    module_used = {c for (m, _), chapters in table.items() if m == module_name for c in chapters}
    for where, named in [(f"helpers/{module_name}.py", claims(module.__doc__)[0]),
                         ("helpers/__init__.py", module_line_claims().get(module_name, set()))]:
        if named and named != module_used:
            wrong.append(f"  {where} (module docstring): names {fmt(named)}; chapters use "
                         f"helpers.{module_name} in {fmt(module_used)}")
    if wrong:
        pytest.fail(f"helpers/{module_name}.py: docstrings whose chapter lines disagree with the "
                    f"chapters present ({fmt({s[:2] for s in book.existing_chapters()})}):\n"
                    + "\n".join(wrong), pytrace=False)
