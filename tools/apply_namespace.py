"""Install train/ and serve/ as huashu.train and huashu.serve (issue 16, point 2).

Until now the wheel installed top-level packages named ``train`` and ``serve``, so once huashu was
installed ``import train`` / ``import serve`` resolved to huashu's folders from anywhere and
collided with any other project's. The folders stay where they are (top level of the repo); this
script applies the rename mechanically to the tree given as argument:

1. symlinks ``huashu/train -> ../train`` and ``huashu/serve -> ../serve``: train/ and serve/ become
   the subpackages huashu.train and huashu.serve of every huashu that is imported, the installed one
   (wheel: setuptools copies the files through the links; editable: the finder maps only ``huashu``)
   and the one of the checkout the code runs from (a worktree imports its own train/, never the
   folder of the checkout the venv was installed from; a package-dir mapping would do the latter);
2. pyproject.toml: packages ``huashu*`` only, package-data ``huashu.serve = static/*``, ruff
   isort known-first-party ``huashu`` only;
3. every reference to the old module names in code, tests, Makefile, notebooks and docs (README.md
   included; string edits only): ``from train…`` / ``import train…``, ``python -m train.…``, and
   dotted names of real modules (``"train.export"``, ``"serve.app:create_app"``, ``train.base.x``);
   names that are not modules of train/ or serve/ (the config keys ``train.epochs``, ``train.lr``…)
   and paths (``train/reports/``) are left alone;
4. tests/test_import_graph.py: the packages are huashu.train and huashu.serve;
5. adds tests/test_namespace.py: from a directory outside the repo ``import train`` and
   ``import serve`` fail and ``huashu.train`` / ``huashu.serve`` (static page included) import.

Usage (then reinstall, since pyproject.toml changed: ``make setup`` or
``.venv/bin/pip install --no-deps -e .``)::

    python3 tools/apply_namespace.py /work/main            # apply, list every changed line
    python3 tools/apply_namespace.py /work/main --dry-run  # only list what would change
    python3 tools/apply_namespace.py /work/main --rewrite-only  # after merging a branch written with
                                                            # the old names: rewrite its references

Standard library only. Refuses a tree where huashu/train already exists (applied twice).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger("apply_namespace")

MOVED = ("train", "serve")
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".toml", ".yaml", ".yml", ".json", ".txt", ".cfg", ".ini", ".sh",
                 ".rst", ".html"}
TEXT_NAMES = {"Makefile"}
SKIP_DIRS = {".git", ".venv", ".venv-ls", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache",
             "build", "dist", ".ipynb_checkpoints", "artifacts", "runs", ".huashu", ".ci"}
# input data whose bytes are hashed or quoted as they are: never rewritten
# dated reports under train/reports keep the commands they ran
SKIP_PATHS = ("seeds", "tests/data", "labels/annotations", "train/reports")


class ApplyError(Exception):
    pass


# ------------------------------------------------------------------------------------- rewriting


def module_names(root: Path, package: str) -> list[str]:
    """Top-level modules and subpackages of ``root/package`` (what ``package.<name>`` can mean)."""
    top = root / package
    names = {p.stem for p in top.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in top.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return sorted(names, key=lambda n: (-len(n), n))


def rewriters(root: Path) -> list[tuple[str, Callable[[str], str]]]:
    """(name, text -> text) rules, applied in order."""
    pkgs = "|".join(MOVED)
    rules: list[tuple[str, Callable[[str], str]]] = []
    # `from train.x import y`, `from serve import app` (statements, and the same inside strings such
    # as `python -c "from train.x import y"`); not `from huashu.train…`, not prose like "from train to"
    from_re = re.compile(rf"(?<![\w.])(from\s+)({pkgs})(?=\.[A-Za-z_]|\s+import\b)")
    rules.append(("from-import", lambda t: from_re.sub(r"\1huashu.\2", t)))
    # `import train.x as y` -> `import huashu.train.x as y`; a bare `import train` -> `from huashu import
    # train` (same name bound). `import train.x` without `as` would bind `huashu`: flagged, not guessed.
    import_as_re = re.compile(rf"(?<![\w.])(import\s+)({pkgs})(\.[\w.]+\s+as\s)")
    rules.append(("import-as", lambda t: import_as_re.sub(r"\1huashu.\2\3", t)))
    import_bare_re = re.compile(rf"(?m)^(\s*)import\s+({pkgs})\s*$")
    rules.append(("import-bare", lambda t: import_bare_re.sub(r"\1from huashu import \2", t)))
    # `python -m train.experiments.x` (also across a line break in Markdown)
    dash_m_re = re.compile(rf"(-m\s+)({pkgs})(?=\.)")
    rules.append(("python -m", lambda t: dash_m_re.sub(r"\1huashu.\2", t)))
    # dotted names of real modules: "train.export", `train.base.resolve_base`, "serve.app:create_app"
    for package in MOVED:
        mods = "|".join(re.escape(m) for m in module_names(root, package))
        if not mods:
            continue
        dotted_re = re.compile(rf"(?<![\w./\\-])({package}\.(?:{mods}))(?![\w-])")
        rules.append((f"{package}.<module>", lambda t, r=dotted_re: r.sub(r"huashu.\1", t)))
    return rules


def unsafe_imports(text: str) -> list[str]:
    """`import train.x` without `as`: binds the name `huashu`, so uses of `train.x.…` would break."""
    pkgs = "|".join(MOVED)
    return re.findall(rf"(?m)^\s*import\s+(?:{pkgs})\.[\w.]+\s*(?:#.*)?$", text)


def text_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow the new symlinks
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")
                             and (rel / d).as_posix() not in SKIP_PATHS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            if path.suffix in TEXT_SUFFIXES or name in TEXT_NAMES:
                yield path


def rewrite_tree(root: Path, dry_run: bool) -> dict[Path, int]:
    """Apply the rules to every text file; returns changed files and their number of changed lines."""
    rules = rewriters(root)
    changed: dict[Path, int] = {}
    for path in text_files(root):
        if path.relative_to(root).as_posix() == "tools/apply_namespace.py":
            continue
        try:
            old = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = old
        for _, rule in rules:
            new = rule(new)
        if new == old:
            continue
        old_lines, new_lines = old.splitlines(), new.splitlines()
        diff = [(i, a, b) for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True), 1) if a != b]
        changed[path] = len(diff)
        for i, a, b in diff:
            log.info("%s:%d\n  - %s\n  + %s", path.relative_to(root), i, a.strip(), b.strip())
        if not dry_run:
            path.write_text(new, encoding="utf-8")
    return changed


def preflight(root: Path) -> None:
    """Stop before changing anything if a reference cannot be rewritten mechanically."""
    problems = []
    for path in text_files(root):
        if path.suffix != ".py":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        problems += [f"{path.relative_to(root)}: {line.strip()}" for line in unsafe_imports(text)]
    if problems:
        raise ApplyError("`import train.x` without `as` would bind the name `huashu`; rewrite these as "
                         "`from train import x` first (nothing was changed):\n  " + "\n  ".join(problems))


# ------------------------------------------------------------------------------- targeted edits


def edit(path: Path, replacements: list[tuple[str, str]], dry_run: bool) -> None:
    """Exact replacements, each of which must match once (else the file changed: stop, say which)."""
    text = path.read_text(encoding="utf-8")
    for old, new in replacements:
        n = text.count(old)
        if n != 1:
            raise ApplyError(f"{path}: expected exactly one {old!r} ({n} found); edit it by hand")
        text = text.replace(old, new)
        log.info("%s\n  - %s\n  + %s", path.name, old.strip(), new.strip())
    if not dry_run:
        path.write_text(text, encoding="utf-8")


def edit_pyproject(root: Path, dry_run: bool) -> None:
    path = root / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    find_re = re.compile(r'(\[tool\.setuptools\.packages\.find\]\s*\ninclude\s*=\s*)\[[^\]]*\]')
    data_re = re.compile(r'(\[tool\.setuptools\.package-data\]\s*\n)serve(\s*=)')
    isort_re = re.compile(r'(known-first-party\s*=\s*)\[[^\]]*\]')
    for name, regex in (("packages.find include", find_re), ("package-data serve", data_re),
                        ("ruff known-first-party", isort_re)):
        if len(regex.findall(text)) != 1:
            raise ApplyError(f"{path}: {name} not found as expected; edit it by hand")
    text = find_re.sub(
        "# train/ and serve/ are the subpackages huashu.train and huashu.serve through the symlinks\n"
        "# huashu/train -> ../train and huashu/serve -> ../serve: no top-level `train` or `serve` is\n"
        "# installed (they would shadow any other project's).\n"
        + r'\1["huashu*"]', text)
    text = data_re.sub(r'\1"huashu.serve"\2', text)
    text = isort_re.sub(r'\1["huashu"]', text)
    log.info("pyproject.toml: packages huashu*, package-data huashu.serve, known-first-party huashu")
    if not dry_run:
        path.write_text(text, encoding="utf-8")


def make_links(root: Path, dry_run: bool) -> None:
    for package in MOVED:
        link = root / "huashu" / package
        log.info("symlink huashu/%s -> ../%s", package, package)
        if not dry_run:
            link.symlink_to(Path("..") / package, target_is_directory=True)


def edit_import_graph_test(root: Path, dry_run: bool) -> None:
    path = root / "tests" / "test_import_graph.py"
    if not path.exists():
        log.warning("no tests/test_import_graph.py: skipped")
        return
    edit(path, [('PACKAGES = {"huashu": "huashu", "train": "train", "serve": "serve"}',
                 'PACKAGES = {"huashu": "huashu", "huashu.train": "train", "huashu.serve": "serve"}')],
         dry_run)


NAMESPACE_TEST = '''\
"""train/ and serve/ are installed as huashu.train and huashu.serve, never as top-level packages
named ``train`` and ``serve`` (which would shadow any other project's).

Tests run from the repo root, where train/ and serve/ are plain folders on sys.path (cwd, pytest's
rootdir): so the checks of the installed package run ``sys.executable`` in a subprocess whose cwd
is a temporary directory outside the repo, without PYTHONPATH. They check the huashu installed in
this interpreter (``make setup``: ``pip install -e .``); after pulling the change that introduced
huashu.train, reinstall (``make setup``) or the old install still maps ``train`` and ``serve``.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REINSTALL = "the installed huashu predates huashu.train/huashu.serve: run `make setup` (pip install -e .)"


def _python(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        importlib.metadata.distribution("huashu")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("huashu is not installed in this interpreter: run `make setup` (pip install -e .)")
    return tmp_path_factory.mktemp("outside-the-repo")


@pytest.mark.parametrize("name", ["train", "serve"])
def test_no_top_level_train_or_serve_outside_the_repo(outside: Path, name: str):
    proc = _python(["-c", f"import {name}"], outside)
    assert proc.returncode == 1, f"`import {name}` worked outside the repo: {REINSTALL}"
    assert f"ModuleNotFoundError: No module named '{name}'" in proc.stderr


def test_huashu_train_and_serve_import_outside_the_repo(outside: Path):
    code = ("import huashu.train.dataset, huashu.serve.app, huashu.serve.server\\n"
            "print(huashu.serve.app.STATIC_DIR / 'index.html')")
    proc = _python(["-c", code], outside)
    assert proc.returncode == 0, f"{REINSTALL}\\n{proc.stderr[-2000:]}"
    page = Path(proc.stdout.strip())
    assert page.is_file() and "<html" in page.read_text(encoding="utf-8").lower()


def test_module_runs_outside_the_repo(outside: Path):
    proc = _python(["-m", "huashu.train.experiments.rules_split", "--help"], outside)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout


def test_in_the_repo_huashu_train_is_this_checkout():
    """From the repo root (where tests run) huashu.train and huashu.serve are this checkout's
    train/ and serve/, not the folders of whichever checkout the venv was installed from."""
    import huashu
    import huashu.serve
    import huashu.train

    assert Path(huashu.__file__).resolve() == REPO / "huashu" / "__init__.py"
    assert Path(huashu.train.__file__).resolve() == REPO / "train" / "__init__.py"
    assert Path(huashu.serve.__file__).resolve() == REPO / "serve" / "__init__.py"
'''


def add_namespace_test(root: Path, dry_run: bool) -> None:
    path = root / "tests" / "test_namespace.py"
    log.info("add tests/test_namespace.py")
    if not dry_run:
        path.write_text(NAMESPACE_TEST, encoding="utf-8")


def find_ruff(root: Path, given: str | None) -> str | None:
    for candidate in (given, root / ".venv" / "bin" / "ruff", shutil.which("ruff")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


def sort_imports_and_check(root: Path, files: list[Path], ruff: str | None) -> bool:
    """Re-sort the rewritten import blocks (``huashu.train…`` sorts among ``huashu.…``) with ruff's
    isort fix, then run ``ruff check .``; True when it is clean."""
    if ruff is None:
        log.warning("ruff not found (--ruff PATH): run `ruff check --fix --select I .` and `ruff check .`")
        return False
    py = [str(f) for f in files if f.suffix == ".py"]
    if py:
        subprocess.run([ruff, "check", "--fix", "--select", "I", "--quiet", "--exit-zero", *py], cwd=root,
                       check=True)
    proc = subprocess.run([ruff, "check", "."], cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        log.error("ruff check . is not clean after the rename (long lines: wrap them by hand):\n%s",
                  proc.stdout[-4000:])
        return False
    log.info("ruff check .: clean (imports re-sorted)")
    return True


# ------------------------------------------------------------------------------------------ main


def apply(root: Path, dry_run: bool = False, rewrite_only: bool = False) -> dict[Path, int]:
    root = root.resolve()
    for need in ("pyproject.toml", "huashu/__init__.py", "train/__init__.py", "serve/__init__.py"):
        if not (root / need).exists():
            raise ApplyError(f"{root}: no {need}: not a huashu checkout")
    preflight(root)
    if rewrite_only:  # the rename is in place; only references to the old names are rewritten
        if not all((root / "huashu" / p).is_symlink() for p in MOVED):
            raise ApplyError(f"{root}: huashu/train and huashu/serve are not there: apply the rename first")
        return rewrite_tree(root, dry_run)
    for package in MOVED:
        if os.path.lexists(root / "huashu" / package):
            raise ApplyError(f"{root}/huashu/{package} exists: the rename is applied already")
    edit_pyproject(root, dry_run)
    edit_import_graph_test(root, dry_run)  # before the general rewrite: it matches the old line
    changed = rewrite_tree(root, dry_run)
    make_links(root, dry_run)
    add_namespace_test(root, dry_run)
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", type=Path, help="the huashu checkout to change (e.g. /work/main)")
    ap.add_argument("--dry-run", action="store_true", help="only list what would change")
    ap.add_argument("--rewrite-only", action="store_true",
                    help="the rename is applied: only rewrite references to the old names (late merges)")
    ap.add_argument("--ruff", help="ruff executable (default: <root>/.venv/bin/ruff, else on PATH)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        changed = apply(args.root, args.dry_run, args.rewrite_only)
    except ApplyError as e:
        log.error("apply_namespace: error: %s", e)
        return 2
    verb = "would change" if args.dry_run else "changed"
    log.info("%s %d lines in %d files%s", verb, sum(changed.values()), len(changed),
             "" if args.rewrite_only else "; + symlinks huashu/train, huashu/serve, tests/test_namespace.py")
    if args.dry_run:
        return 0
    root = args.root.resolve()
    added = [] if args.rewrite_only else [root / "tests" / "test_namespace.py"]
    clean = sort_imports_and_check(root, [*changed, *added], find_ruff(root, args.ruff))
    log.info("next: reinstall (make setup, or .venv/bin/pip install --no-deps -e .), then "
             "pytest tests/test_namespace.py tests/test_import_graph.py")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
