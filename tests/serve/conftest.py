"""Fixtures for the scoring server tests (helpers in serve_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_helpers import ARTIFACTS, Server, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The rules detector with default limits (max 200,000 chars)."""
    with running_server(tmp_path_factory.mktemp("server"), "--detector", "rules") as s:
        yield s


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = ARTIFACTS / "serve"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def seed_texts(seed_paths: list[Path]) -> list[str]:
    from huashu.ingest import read_text

    return [read_text(p) for p in seed_paths]
