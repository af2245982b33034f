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
    code = ("import huashu.train.dataset, huashu.serve.app, huashu.serve.server\n"
            "print(huashu.serve.app.STATIC_DIR / 'index.html')")
    proc = _python(["-c", code], outside)
    assert proc.returncode == 0, f"{REINSTALL}\n{proc.stderr[-2000:]}"
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
