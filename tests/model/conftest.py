"""Model-test fixtures: the real offline base encoder, synthetic annotated articles."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def base_dir() -> str:
    """The offline e5-small-zh base (``huashu.train.base.resolve_base`` prepares it on demand)."""
    import os

    if os.environ.get("HUASHU_TEST_BASE"):  # development only: a pre-built base directory
        return os.environ["HUASHU_TEST_BASE"]
    from huashu.train.base import resolve_base

    return resolve_base("e5-small-zh")


@pytest.fixture(scope="session")
def tokenizer(base_dir):
    from transformers import AutoTokenizer

    from huashu.inference import prepare_tokenizer

    return prepare_tokenizer(AutoTokenizer.from_pretrained(base_dir))


@pytest.fixture(scope="session")
def seed_docs(seed_paths):
    from huashu.ingest import ingest_file

    return [d for p in seed_paths for d in ingest_file(p)]
