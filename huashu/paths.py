"""Where things live: the repo's data folders and the per-user cache."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def labels_dir() -> Path:
    """`labels/`: taxonomy, lexicons, guidelines and the standoff annotation store."""
    return Path(os.environ.get("HUASHU_LABELS_DIR", REPO_ROOT / "labels"))


def taxonomy_path() -> Path:
    return labels_dir() / "taxonomy.yaml"


def annotations_dir() -> Path:
    return labels_dir() / "annotations"


def data_dir() -> Path:
    """Per-user cache for large things that never go into git (base encoder, LS data, runs)."""
    path = Path(os.environ.get("HUASHU_DATA_DIR", Path.home() / ".cache" / "huashu"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def hancd_dir() -> Path:
    """The HanCD corpus (no licence: read at build time, never committed)."""
    return Path(os.environ.get("HUASHU_HANCD_DIR", REPO_ROOT.parent / "shared" / "corpus" / "hancd"))


def seeds_dir() -> Path:
    """`seeds/`: the five seed articles."""
    return REPO_ROOT / "seeds"


def corpus_roots() -> dict[str, Path]:
    """The known corpora by the name annotation records give them (``corpus`` field)."""
    return {"seeds": seeds_dir(), "hancd": hancd_dir()}


def corpus_of(path: Path) -> tuple[str, str] | None:
    """(corpus, source) for a file inside a known corpus, as annotation records name it;
    None for any other file. (Here, below both ingest and corpus, which use it.)"""
    try:
        resolved = Path(path).resolve()
    except OSError:
        return None
    for name, root in corpus_roots().items():
        try:
            rel = resolved.relative_to(root.resolve())
        except (ValueError, OSError):
            continue
        return (name, f"seeds/{rel.as_posix()}") if name == "seeds" else (name, rel.as_posix())
    return None


def default_model_dir() -> Path:
    """The release model committed with the repo (≤ 60 MB); may not exist yet."""
    return Path(os.environ.get("HUASHU_MODEL", PACKAGE_DIR / "models" / "default"))


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a sibling temporary file, so a reader never sees half a file
    (parent folders are created; OSError propagates for the caller's one-line error)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
