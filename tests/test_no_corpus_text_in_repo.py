"""HanCD has no licence: no tracked file may carry its article text (standoff offsets only)."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from huashu.paths import hancd_dir

REPO = Path(__file__).resolve().parents[1]
WINDOW = 24  # characters: long enough that a match is copied text, not a shared phrase
TEXT_SUFFIXES = {".json", ".jsonl", ".md", ".txt", ".csv", ".yaml", ".yml", ".py", ".ipynb", ".html"}


def _shingles(text: str, step: int) -> set[str]:
    return {text[i : i + WINDOW] for i in range(0, max(0, len(text) - WINDOW), step)}


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [REPO / p for p in out.splitlines() if Path(p).suffix in TEXT_SUFFIXES]


def test_no_tracked_file_contains_hancd_article_text():
    files = sorted(hancd_dir().glob("*.csv"))
    if not files or not (REPO / ".git").exists():
        pytest.skip("HanCD corpus or git checkout not available")
    corpus: set[str] = set()
    csv.field_size_limit(10_000_000)
    for path in files:
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                body = "".join((row.get("text") or "").split())
                corpus |= _shingles(body, WINDOW // 2)  # every window of 24 contains one of these
    assert len(corpus) > 1000
    leaks = []
    for path in _tracked_text_files():
        try:
            text = "".join(path.read_text(encoding="utf-8").split())
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        hits = [text[i : i + WINDOW] for i in range(len(text) - WINDOW + 1) if text[i : i + WINDOW] in corpus]
        if hits:
            leaks.append(f"{path.relative_to(REPO)}: {len(hits)} windows, e.g. {hits[0]!r}")
    assert not leaks, "HanCD article text in tracked files:\n" + "\n".join(leaks)
