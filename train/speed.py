"""Speed of a model detector on the bench articles: chars/s over whole articles and latency per
article at 500 / 2,500 / 10,000 characters.

Shared by `huashu distill` (teacher against student) and `huashu export` (one precision against
another); below both, so neither imports the other for it.
"""

from __future__ import annotations

import time
from typing import Any

from huashu.inference import ModelDetector
from huashu.ingest import ingest_file
from huashu.paths import seeds_dir
from huashu.spans import Document
from huashu.train.dataset import load_hancd

SIZES = (500, 2500, 10000)


def bench_texts(n_docs: int) -> list[Document]:
    """Seeds (in the repo) plus HanCD articles when the corpus is there."""
    docs = [d for p in sorted(seeds_dir().glob("*.txt")) for d in ingest_file(p)]
    try:
        docs += sorted(load_hancd(), key=lambda d: d.id)[: max(0, n_docs - len(docs))]
    except (FileNotFoundError, OSError):
        pass
    return docs[:n_docs] if n_docs else docs


def _sized(docs: list[Document], size: int) -> Document:
    text = ""
    for d in docs * (size // max(1, sum(len(d.text) for d in docs)) + 1):
        text += d.text + "\n"
        if len(text) >= size:
            break
    return Document(id=f"bench-{size}", text=text[:size])


def measure(
    detector: ModelDetector, docs: list[Document], repeats: int = 1, sizes: tuple[int, ...] = SIZES
) -> dict[str, Any]:
    detector.detect_batch(docs[:1])  # warm-up
    chars = sum(len(d.text) for d in docs)
    t0 = time.perf_counter()
    for _ in range(repeats):
        preds = detector.detect_batch(docs)
    secs = (time.perf_counter() - t0) / repeats
    latency = {}
    for size in sizes:
        doc = _sized(docs, size)
        t1 = time.perf_counter()
        detector.detect(doc)
        latency[str(size)] = round((time.perf_counter() - t1) * 1000, 1)
    return {
        "chars_per_s": round(chars / secs, 1),
        "seconds": round(secs, 2),
        "chars": chars,
        "latency_ms": latency,
        "preds": preds,
    }
