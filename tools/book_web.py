"""A Sphinx extension for the web book (loaded by _config.yml, `local_extensions`).

At build time, on the HTML pages only (the notebooks are not changed):

- the code of each exercise's solution cell (tagged ``solution``) and of its checker
  cells (which compute the expected answers) is folded behind "Show the solution" /
  "Show the checks";
- an explorer (an ipywidgets output, which needs a live kernel) is replaced by a note
  pointing to its static figure, drawn just above it by an ordinary cell, and to the
  launch buttons;
- each figure gets alt text: the cell's ``alt`` metadata, else its ``# alt:`` comment
  lines, else the titles the cell's code sets, instead of the image's file name;
- links to the repository's README (the chapters' "Contents" link) go to the landing
  page's chapter map.
"""
from __future__ import annotations

import ast
import re

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

WIDGET = "application/vnd.jupyter.widget-view+json"
CHECKERS = ("check_value", "check_function", "check_choice")
EXPLORER_NOTE = ("This is an interactive explorer: it needs a running notebook. Open this "
                 "chapter with the launch button at the top of the page (Binder or Colab) to "
                 "move its sliders; the figure above shows it at fixed settings.")


def _source(container) -> str:
    for child in container.children:
        if child.get("nb_element") == "cell_code_source":
            return child.astext()
    return ""


def _strings(call: ast.Call) -> list[str]:
    found = []
    for arg in list(call.args) + [k.value for k in call.keywords if k.arg in ("title", "label", "t")]:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found.append(arg.value)
        elif isinstance(arg, ast.JoinedStr):
            found.append("".join(v.value if isinstance(v, ast.Constant) else "…" for v in arg.values))
    return found


def figure_alt(source: str, metadata: dict) -> str:
    """Alt text for a figure drawn by a code cell."""
    if metadata.get("alt"):
        return str(metadata["alt"])
    comments = [m.group(1).strip() for m in re.finditer(r"^\s*#\s*alt:\s*(.+)$", source, re.M)]
    if comments:
        return " ".join(comments)
    titles = []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("suptitle", "set_title", "title"):
                titles += _strings(node)[:1]
            elif any(k.arg in ("title", "suptitle") for k in node.keywords):
                titles += [v for k in node.keywords if k.arg in ("title", "suptitle")
                           for v in _strings(ast.Call(func=node.func, args=[k.value], keywords=[]))]
    titles = [t.replace("$", "").strip() for t in titles if t.strip()]
    if titles:
        return "Figure: " + "; ".join(dict.fromkeys(titles))
    return "Figure drawn by the code cell above"


def _fold(container, what: str) -> None:
    if container.get("hide_mode"):
        return
    container["hide_mode"] = "input"
    container["prompt_show"] = f"Show the {what}"
    container["prompt_hide"] = f"Hide the {what}"


class FoldAndDescribe(SphinxPostTransform):
    """Runs before myst-nb's HideInputCells (priority 199), which does the folding."""

    default_priority = 150
    formats = ("html",)

    def run(self, **kwargs) -> None:
        for cell in list(self.document.findall(nodes.container)):
            if cell.get("nb_element") != "cell_code":
                continue
            metadata = cell.get("cell_metadata", {}) or {}
            tags = metadata.get("tags", [])
            source = _source(cell)
            if "solution" in tags:
                _fold(cell, "solution")
            elif any(f"{name}(" in source for name in CHECKERS):
                _fold(cell, "checks")
            for raw in list(cell.findall(nodes.raw)):
                if WIDGET in raw.astext():
                    note = nodes.note("", nodes.paragraph(text=EXPLORER_NOTE))
                    note["classes"].append("explorer-fallback")
                    raw.replace_self(note)
            for image in cell.findall(nodes.image):
                if not image.get("alt"):
                    image["alt"] = figure_alt(source, metadata)


README = re.compile(r"(\.\./)*README(\.md)?(#.*)?")


class ReadmeLinks(SphinxPostTransform):
    """Links to the repository's README.md (not a page of the web book: the landing page
    is) go to the landing page's chapter map. Runs before myst's resolver (priority 9)."""

    default_priority = 5

    def run(self, **kwargs) -> None:
        from sphinx.addnodes import pending_xref

        for node in list(self.document.findall(pending_xref)):
            if README.fullmatch(node.get("reftarget", "")):
                uri = self.app.builder.get_relative_uri(self.env.docname, self.config.root_doc)
                reference = nodes.reference("", "", internal=True, refuri=f"{uri}#chapters")
                reference += node.children
                node.replace_self(reference)


def setup(app):
    app.add_post_transform(ReadmeLinks)
    app.add_post_transform(FoldAndDescribe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
