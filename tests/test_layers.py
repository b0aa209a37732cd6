"""The package's import graph: no cycles (issue 17). Every import of a module of the
package counts, at the top of a file or inside a function (a function-level import
that only dodges a cycle is still a cycle)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "tiering"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    top = package.name
    modules = {_module_name(p, package.parent): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                submodules = [f"{base}.{a.name}" for a in node.names]
                # "from . import locale" imports the submodule, not the package's names
                names_from_base = any(sub not in modules for sub in submodules)
                targets = ([base] if names_from_base else []) + submodules
            for target in targets:
                if target not in modules:
                    continue
                # importing a.b.c also runs a/__init__ and a/b/__init__: an edge to each
                # enclosing package that does not enclose the importing module itself
                parts = target.split(".")
                for k in range(1, len(parts) + 1):
                    enclosing = ".".join(parts[:k])
                    if (
                        enclosing in modules
                        and enclosing != name
                        and not name.startswith(enclosing + ".")
                        and enclosing != top
                    ):
                        graph[name].add(enclosing)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_inside_the_package():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_relative_absolute_and_function_level_imports(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "from . import b\n",
        "pkg/b.py": "def f():\n    from pkg.c import C\n",
        "pkg/c.py": "C = 1\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/d.py": "from ..c import C\nimport pkg.a\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    graph = import_graph(tmp_path / "pkg")
    assert graph["pkg.a"] == {"pkg.b"}  # relative
    assert graph["pkg.b"] == {"pkg.c"}  # absolute, inside a function
    assert graph["pkg.sub.d"] == {"pkg.c", "pkg.a"}  # from a subpackage


def test_a_cycle_through_a_packages_init_is_found(tmp_path):
    """a.x imports b.y, which runs b/__init__, which imports b.z, which imports a.x:
    Python fails with a partially initialised module; the graph must see it."""
    files = {
        "pkg/__init__.py": "",
        "pkg/a/__init__.py": "",
        "pkg/a/x.py": "from ..b.y import Y\n",
        "pkg/b/__init__.py": "from .z import Z\n",
        "pkg/b/y.py": "Y = 1\n",
        "pkg/b/z.py": "from ..a.x import X\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert cycles(import_graph(tmp_path / "pkg")) == [["pkg.a.x", "pkg.b", "pkg.b.z"]]


# --------------------------------------------------------------------------- layers

#: The layers, lowest first. A module may import its own layer and those below it.
BASE = {
    "tiering.params",
    "tiering.errors",
    "tiering.locale",
    "tiering.style",
    "tiering.expr",
    "tiering.safecsv",
    "tiering.interrupt",
    "tiering.sniff",
    "tiering.plugins",
    "tiering.progress",
}
LAYERS = ("base", "data", "analysis", "present", "build", "top")


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    part = module.split(".")[1] if module.count(".") else ""
    return part if part in ("data", "analysis", "present", "build") else "top"


def test_every_module_has_a_layer():
    top = {m for m in import_graph() if layer(m) == "top"}
    assert top == {
        "tiering",
        "tiering.api",
        "tiering.cli",
        "tiering.batch",
        "tiering.verify",
        "tiering.scaffold",
    }


def test_imports_only_point_down():
    upward = sorted(
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        for b in targets
        if LAYERS.index(layer(b)) > LAYERS.index(layer(a))
    )
    assert upward == []


def test_the_layer_check_sees_an_upward_import():
    assert LAYERS.index(layer("tiering.present.charts")) > LAYERS.index(
        layer("tiering.analysis.migration")
    )
    assert layer("tiering.data.engines.duckdb_stream") == "data"


def _loaded_after(statement: str) -> list[str]:
    code = (
        f"import sys; {statement}; print(sorted({{m.split('.')[0] for m in sys.modules}} "
        "& {'matplotlib', 'seaborn', 'jinja2', 'nbconvert', 'nbformat', 'weasyprint', "
        "'papermill', 'markdown', 'openpyxl'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return ast.literal_eval(out.stdout.strip())


def test_the_analysis_loads_no_charting_html_or_report_library():
    modules = sorted(m for m in import_graph() if layer(m) == "analysis")
    assert _loaded_after("import " + ", ".join(modules)) == []


def test_the_analysis_produces_no_report_text():
    """No catalogue text, no HTML and no language parameter in analysis/."""
    offenders = []
    for path in sorted((PACKAGE / "analysis").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for needle in ("tiering.present", "language: str", "<div", "<p>", "<table"):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []


# --------------------------------------------------------------------------- private names


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_ok(user: str, target: str) -> bool:
    """A private submodule (``pkg/_rules.py``) is private to its package: the modules of
    that package may use it."""
    parent = target.rpartition(".")[0]
    return user.startswith(parent + ".")


def private_uses(package: Path = PACKAGE) -> list[str]:
    """Every use by one module of another module's underscore name: ``from pkg.a import
    _name``, ``a._name`` where ``a`` is an imported module of the package (also
    ``pkg.a._name`` and ``import pkg._a``), and importing from or of a private module of
    another package. Dunder names are public; a module's own names are its own."""
    modules = {_module_name(p, package.parent): p for p in package.rglob("*.py")}
    found = []

    def check(user: str, dotted: str, where: str) -> None:
        """``dotted`` names a module of the package, or a name of one."""
        parts = dotted.split(".")
        for k in range(1, len(parts)):
            prefix, name = ".".join(parts[:k]), parts[k]
            if prefix in modules and _is_private(name) and prefix != user:
                target = f"{prefix}.{name}"
                if target in modules and _private_ok(user, target):
                    continue  # a private module of the user's own package: look further
                found.append(f"{where}: {target}")
                return

    for user, path in sorted(modules.items()):
        rel = path.relative_to(package.parent)
        own_package = user if path.name == "__init__.py" else user.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}  # local name -> module of the package
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == package.name:
                        check(user, a.name, f"{rel}:{node.lineno}")
                        if a.asname and a.name in modules:
                            aliases[a.asname] = a.name
                        elif not a.asname:
                            aliases[a.name.split(".")[0]] = a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = own_package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                if base.split(".")[0] != package.name:
                    continue
                check(user, base, f"{rel}:{node.lineno}")
                for a in node.names:
                    check(user, f"{base}.{a.name}", f"{rel}:{node.lineno}")
                    if f"{base}.{a.name}" in modules:
                        aliases[a.asname or a.name] = f"{base}.{a.name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_private(node.attr):
                chain, value = [node.attr], node.value
                while isinstance(value, ast.Attribute):
                    chain.append(value.attr)
                    value = value.value
                if isinstance(value, ast.Name) and value.id in aliases:
                    dotted = ".".join([aliases[value.id], *reversed(chain)])
                    check(user, dotted, f"{rel}:{node.lineno}")
    return sorted(set(found))


def test_no_module_uses_another_modules_private_names():
    """A helper used across modules is public (and documented) or not shared (issue 17);
    tests may use private names, the package may not."""
    assert private_uses() == []


def test_the_private_name_check_sees_every_kind_of_use(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "_X = 1\n__all__ = []\ndef _f():\n    return _X\n",
        "pkg/b.py": "from pkg.a import _X\n",
        "pkg/c.py": "from . import a\n\ndef g():\n    return a._f()\n",
        "pkg/d.py": "import pkg.a as m\nimport pkg.a\nfrom pkg.a import __all__\n"
        "print(m.__name__, pkg.a._X)\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/_rules.py": "Y = 1\n_Z = 2\n",
        "pkg/sub/e.py": "from . import _rules\nfrom ._rules import Y\nprint(_rules.Y)\n",
        "pkg/sub/f.py": "from pkg.sub import _rules\nprint(_rules._Z)\n",
        "pkg/g.py": "from .sub._rules import Y\nfrom pkg.sub import _rules\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert private_uses(tmp_path / "pkg") == [
        "pkg/b.py:1: pkg.a._X",  # imported by name
        "pkg/c.py:4: pkg.a._f",  # attribute of an imported module
        "pkg/d.py:4: pkg.a._X",  # attribute of a dotted module path
        "pkg/g.py:1: pkg.sub._rules",  # a private module outside its package
        "pkg/g.py:2: pkg.sub._rules",
        "pkg/sub/f.py:2: pkg.sub._rules._Z",  # a private name of a private module
    ]


# --------------------------------------------------------------------------- module size

# Lines as `ruff format` lays them out (one argument per line in long calls): the 600
# hand-formatted lines of issue 17 became about 800.
MAX_LINES = 800
WHY_LONG = "Longer than 800 lines because"


def long_modules(package: Path = PACKAGE, *, layers=("analysis", "present")) -> list[str]:
    """Modules of ``layers`` over :data:`MAX_LINES` lines whose docstring does not say
    why (with the words of :data:`WHY_LONG`)."""
    out = []
    for sub in layers:
        for path in sorted((package / sub).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            doc = " ".join((ast.get_docstring(ast.parse(text)) or "").split())
            if len(text.splitlines()) > MAX_LINES and WHY_LONG not in doc:
                out.append(f"{path.relative_to(package.parent)}: {len(text.splitlines())} lines")
    return out


def test_long_analysis_and_present_modules_say_why():
    """Split a module by topic, or state the reason in its docstring (issue 17)."""
    assert long_modules() == []


def test_the_size_check_sees_a_long_module(tmp_path):
    body = "x = 1\n" * MAX_LINES
    files = {
        "pkg/analysis/short.py": '"""Short."""\n' + "x = 1\n" * 10,
        "pkg/analysis/long.py": '"""Long."""\n' + body,
        "pkg/present/said.py": '"""Long.\n\nLonger than 800 lines\nbecause it is."""\n' + body,
        "pkg/build/other.py": '"""Not checked."""\n' + body,
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert long_modules(tmp_path / "pkg") == [f"pkg/analysis/long.py: {MAX_LINES + 1} lines"]


def test_the_readme_diagram_names_every_module_in_its_layer():
    """The README's layer diagram matches the code: each module (subpackages by their
    name) is named on its layer's lines."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("```\ntop ") + 4 :]
    block = block[: block.index("```")]
    lines: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        first = line.split(" ", 1)[0]
        if first in LAYERS:
            current = first
        if current:
            lines[current] = lines.get(current, "") + " " + line
    missing = []
    for module in import_graph():
        if module == "tiering":
            continue
        name = layer(module)
        parts = module.split(".")
        short = parts[1] if name in ("base", "top") else parts[2] if len(parts) > 2 else None
        if short and not re.search(rf"\b{re.escape(short)}\b", lines.get(name, "")):
            missing.append(f"{module} ({name})")
    assert sorted(set(missing)) == []
