"""The import graph of huashu/, train/ and serve/ has no circles, and serve/ never imports train/.

Each step of the data flow imports only the steps below it. The graph is built statically from
the source (ast), so it sees every import a module can make, not only the ones a test run
happens to reach:

* every ``import x`` / ``from x import y`` at any depth, including the "lazy" imports inside
  functions and ``if`` blocks (a lazy import still ties the two modules together);
* relative imports, resolved against the importing module's package;
* ``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg``;
* modules loaded by name (``import_module("huashu.commands.score")``): in a module that calls
  ``import_module``/``__import__``, every dotted string constant that names a project module is an
  edge (dotted, so that ``"huashu"`` as a program name is not taken for the package).

serve/ must not reach train/ at all: not directly, and not through a huashu module either.

Run ``python tests/test_import_graph.py`` to print the cycles and every edge inside them.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Module name of each package -> its folder in the repo. Folders are walked without following
# symlinks, so a package folder linked into another is not counted twice.
PACKAGES = {"huashu": "huashu", "huashu.train": "train", "huashu.serve": "serve"}
TRAIN = next(name for name, folder in PACKAGES.items() if folder == "train")
SERVE = next(name for name, folder in PACKAGES.items() if folder == "serve")
LAYOUT = {"huashu": "huashu", "train": "train", "serve": "serve"}  # the graph builder's own checks

# Circles allowed to stay: none (a component is allowed only if it is exactly one of these sets).
ALLOWED_CYCLES: list[frozenset[str]] = []


def project_modules(root: Path = REPO, packages: Mapping[str, str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the project packages."""
    modules: dict[str, Path] = {}
    for package, folder in packages.items():
        top = root / folder
        for dirpath, dirnames, filenames in os.walk(top):  # does not follow symlinks
            dirnames.sort()
            for filename in sorted(f for f in filenames if f.endswith(".py")):
                path = Path(dirpath) / filename
                parts = [package, *path.relative_to(top).with_suffix("").parts]
                if parts[-1] == "__init__":
                    parts.pop()
                modules[".".join(parts)] = path
    return modules


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` refers to: itself, or its longest prefix that is a module."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _base_of_relative(module: str, path: Path, node: ast.ImportFrom) -> str:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    parts = package.split(".") if package else []
    if node.level > 1:
        parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _loads_by_name(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in ("import_module", "__import__"):
            return True
        if isinstance(node, ast.Attribute) and node.attr in ("import_module", "__import__"):
            return True
        if isinstance(node, ast.ImportFrom) and any(a.name == "import_module" for a in node.names):
            return True
    return False


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that ``module`` imports, anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := _resolve(alias.name, modules)) is not None:
                    targets.add(target)
        elif isinstance(node, ast.ImportFrom):
            base = _base_of_relative(module, path, node) if node.level else (node.module or "")
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in modules else _resolve(base, modules)
                if target is not None:
                    targets.add(target)
    if _loads_by_name(tree):
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value
                    and node.value in modules):
                targets.add(node.value)
    return targets


def import_graph(root: Path = REPO, packages: Mapping[str, str] = PACKAGES) -> dict[str, set[str]]:
    modules = project_modules(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm (iterative): every strongly connected component of the graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: set[str] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Components of more than one module, and modules that import themselves."""
    found = [c for c in strongly_connected(graph) if len(c) > 1]
    found += [{m} for m, targets in graph.items() if m in targets]
    return sorted(found, key=lambda c: sorted(c))


def describe(component: set[str], graph: dict[str, set[str]]) -> str:
    edges = [f"  {a} -> {b}" for a in sorted(component) for b in sorted(graph[a] & component)]
    return "{" + ", ".join(sorted(component)) + "}\n" + "\n".join(edges)


# --- the checks of the graph builder itself -------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_graph_builder_sees_lazy_relative_and_by_name_imports(tmp_path: Path):
    _write(tmp_path, {
        "huashu/__init__.py": "",
        "huashu/a.py": "def f():\n    if True:\n        from huashu.b import thing\n",
        "huashu/b.py": "from . import c\nimport huashu.sub.d as d\n",
        "huashu/c.py": "from importlib import import_module\nNAMES = ['huashu.a', 'not.a.module']\n",
        "huashu/sub/__init__.py": "",
        "huashu/sub/d.py": "from ..c import NAMES\nfrom .. import a\n",
        "huashu/e.py": "import huashu.e\n",
        "train/__init__.py": "",
        "train/t.py": "import os\nfrom huashu import b\n",
        "serve/__init__.py": "",
        "serve/s.py": "x = 'huashu.a'\n",  # a string, but this module loads nothing by name
    })
    graph = import_graph(tmp_path, LAYOUT)
    assert graph["huashu.a"] == {"huashu.b"}
    assert graph["huashu.b"] == {"huashu.c", "huashu.sub.d"}
    assert graph["huashu.c"] == {"huashu.a"}
    assert graph["huashu.sub.d"] == {"huashu.c", "huashu.a"}
    assert graph["train.t"] == {"huashu.b"}
    assert graph["serve.s"] == set()
    assert cycles(graph) == [{"huashu.a", "huashu.b", "huashu.c", "huashu.sub.d"}, {"huashu.e"}]


def test_graph_builder_finds_no_cycle_in_a_layered_tree(tmp_path: Path):
    _write(tmp_path, {
        "huashu/__init__.py": "",
        "huashu/low.py": "import json\n",
        "huashu/mid.py": "from huashu.low import x\n",
        "huashu/top.py": "def f():\n    from huashu import mid, low\n",
        "train/__init__.py": "",
        "train/t.py": "",
        "serve/__init__.py": "",
    })
    (tmp_path / "huashu" / "linked").symlink_to(tmp_path / "train", target_is_directory=True)
    graph = import_graph(tmp_path, LAYOUT)
    assert graph["huashu.top"] == {"huashu.mid", "huashu.low"}
    assert cycles(graph) == []
    # a package folder linked into another (huashu/train -> ../train) is read once, as its own package
    assert not any(m.startswith("huashu.linked") for m in graph)


# --- the checks of the project --------------------------------------------------------------------


def test_project_modules_are_found():
    modules = project_modules()
    for name in ("huashu.cli", "huashu.corpus", "huashu.ingest", "huashu.commands.score",
                 "huashu.train.distill", "huashu.train.export", "huashu.serve.app"):
        assert name in modules


def test_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    unexpected = [c for c in found if frozenset(c) not in ALLOWED_CYCLES]
    assert not unexpected, "import cycles:\n" + "\n".join(describe(c, graph) for c in unexpected)


def test_allowed_cycles_still_exist():
    """An allow-list entry whose circle is gone must be removed (the list only shrinks)."""
    found = {frozenset(c) for c in cycles(import_graph())}
    stale = [sorted(c) for c in ALLOWED_CYCLES if c not in found]
    assert not stale, f"these circles are gone, remove them from ALLOWED_CYCLES: {stale}"


def import_chain(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A shortest chain of imports from ``start`` to a module of package ``goal`` (breadth first)."""
    parents: dict[str, str | None] = {start: None}
    queue = [start]
    for node in queue:
        for target in sorted(graph.get(node, ())):
            if target in parents:
                continue
            parents[target] = node
            if in_package(target, goal):
                chain = [target]
                while (previous := parents[chain[-1]]) is not None:
                    chain.append(previous)
                return chain[::-1]
            queue.append(target)
    return None


def test_import_chain_goes_through_other_packages():
    graph = {"serve.a": {"huashu.x"}, "huashu.x": {"huashu.y"}, "huashu.y": {"train.z"}, "train.z": set()}
    assert import_chain(graph, "serve.a", "train") == ["serve.a", "huashu.x", "huashu.y", "train.z"]
    assert import_chain(graph, "huashu.y", "serve") is None


def test_serve_never_imports_train():
    """Neither directly nor through huashu: the server runs without the training code."""
    graph = import_graph()
    chains = [chain for m in sorted(graph) if in_package(m, SERVE)
              if (chain := import_chain(graph, m, TRAIN)) is not None]
    assert not chains, "serve/ imports train/:\n" + "\n".join(" -> ".join(c) for c in chains)


if __name__ == "__main__":
    graph = import_graph()
    for component in cycles(graph):
        print(describe(component, graph))
    sys.exit(1 if cycles(graph) else 0)
