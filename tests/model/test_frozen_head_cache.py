"""The frozen-head experiment's feature cache: keyed by document text, never by a stale gold list."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from huashu.annotations import GOLD, AnnotationRecord, write_records
from huashu.inference import Encoded, char_targets
from huashu.spans import Span

REPO = Path(__file__).resolve().parents[2]


def _write_gold(labels: Path, seed_paths, seed_docs, n: int, spans_of_first: list[Span]) -> None:
    records = []
    for k, (path, doc) in enumerate(zip(seed_paths[:n], seed_docs[:n], strict=True)):
        spans = spans_of_first if k == 0 else []
        records.append(AnnotationRecord(doc_id=doc.id, corpus="seeds", source=f"seeds/{path.name}",
                                        sha256=doc.sha256, annotator=GOLD, spans=spans))
    write_records(labels / "annotations" / "seeds.jsonl", records)


def test_features_follow_the_current_gold_and_encode_only_new_texts(
    tmp_path, monkeypatch, caplog, base_dir, seed_docs, seed_paths
):
    from huashu.train.dataset import span_labels
    from huashu.train.experiments.frozen_head import features

    labels = tmp_path / "labels"
    shutil.copytree(REPO / "labels", labels, ignore=shutil.ignore_patterns("annotations"))
    monkeypatch.setenv("HUASHU_LABELS_DIR", str(labels))
    monkeypatch.setenv("HUASHU_HANCD_DIR", str(tmp_path / "no-hancd"))
    cache = tmp_path / "feats.pkl"
    first = seed_docs[0]
    _write_gold(labels, seed_paths, seed_docs, 2, [Span(0, 4, "vague_authority")])
    data = features(cache, base_dir)
    assert [d["id"] for d in data] == [d.id for d in seed_docs[:2]]
    assert data[0]["feats"].shape[0] == data[0]["y"].shape[0] == len(data[0]["offsets"])

    # the gold grows by one article and the first article's spans are corrected
    corrected = [Span(5, 9, "loaded_metaphor")]
    _write_gold(labels, seed_paths, seed_docs, 3, corrected)
    log = logging.getLogger("huashu.experiments.frozen_head")
    log.addHandler(caplog.handler)  # the project's logging may not propagate to the root
    try:
        with caplog.at_level(logging.INFO, logger=log.name):
            again = features(cache, base_dir)
    finally:
        log.removeHandler(caplog.handler)
    assert [d["id"] for d in again] == [d.id for d in seed_docs[:3]]  # not the cached 2
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "3 gold documents, 1 encoded now, 2 from the cache" in messages
    assert np.array_equal(again[0]["feats"], data[0]["feats"])
    enc = Encoded([0] * len(again[0]["offsets"]), again[0]["offsets"])
    assert np.array_equal(again[0]["y"], char_targets(enc, corrected, span_labels()))
    assert [(s.start, s.end, s.label) for s in again[0]["spans"]] == [(5, 9, "loaded_metaphor")]
    assert again[0]["doc"].id == first.id
