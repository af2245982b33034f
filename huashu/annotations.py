"""The standoff annotation store under ``labels/annotations/``.

One JSONL file per corpus (``seeds.jsonl``, ``hancd.jsonl``, ...), one record per
(document, annotator). Records hold offsets, never article text: HanCD text stays out of the
repo and is resolved from the corpus at build time, checked against ``sha256``.

Record fields::

    doc_id      document id as produced by `huashu ingest` (e.g. "000_1187af2e36dfae89",
                "tencent-0042")
    corpus      "seeds" | "hancd" | ...
    source      where the text comes from, relative to its root: "seeds/000_….txt",
                "tencent.csv" (rows of a CSV/JSONL are found by doc_id)
    sha256      sha256 of the cleaned document text the offsets index (Document.text)
    annotator   who made it (Label Studio user email); "gold" or an "adjudicator…" account marks
                the adjudicated record
    spans       [{"start", "end", "label"}] in Python code points into Document.text
    ls          {"project", "task", "annotation"} Label Studio ids, when it came from LS
    created_at, updated_at   ISO timestamps
    history     earlier versions of ``spans`` (with their updated_at), never dropped

The dataset uses the "gold" record of a document when there is one, otherwise its only
annotator's record; a document with several annotators and no gold is skipped (adjudicate it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from huashu.paths import annotations_dir
from huashu.spans import Span

GOLD = "gold"


def is_gold(annotator: str) -> bool:
    """Adjudicated records: annotator "gold", or an adjudicator's Label Studio account."""
    return annotator == GOLD or annotator.startswith("adjudicator")


@dataclass
class AnnotationRecord:
    doc_id: str
    corpus: str
    source: str
    sha256: str
    annotator: str
    spans: list[Span]
    ls: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.corpus, self.doc_id, self.annotator)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spans"] = [{"start": s.start, "end": s.end, "label": s.label} for s in sorted(self.spans)]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnnotationRecord:
        return cls(
            doc_id=str(d["doc_id"]), corpus=str(d["corpus"]), source=str(d.get("source", "")),
            sha256=str(d["sha256"]), annotator=str(d["annotator"]),
            spans=[Span(int(s["start"]), int(s["end"]), str(s["label"]), 1.0, str(d["annotator"]))
                   for s in d.get("spans", [])],
            ls=dict(d.get("ls") or {}), created_at=d.get("created_at", ""),
            updated_at=d.get("updated_at", ""), history=list(d.get("history") or []),
        )


def read_records(path: Path) -> list[AnnotationRecord]:
    records = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                records.append(AnnotationRecord.from_dict(json.loads(line)))
            except (json.JSONDecodeError, KeyError, ValueError) as e:
                raise ValueError(f"{path}:{lineno}: bad annotation record: {e}") from None
    return records


def write_records(path: Path, records: Iterable[AnnotationRecord]) -> None:
    """Write atomically, sorted for stable diffs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    rows = sorted(records, key=lambda r: r.key)
    with tmp.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
    tmp.replace(path)


def iter_store(directory: Path | None = None) -> Iterator[AnnotationRecord]:
    directory = directory or annotations_dir()
    for path in sorted(directory.glob("*.jsonl")):
        yield from read_records(path)


def training_records(records: Iterable[AnnotationRecord]) -> list[AnnotationRecord]:
    """One record per document: gold if present, else the single annotator's."""
    by_doc: dict[tuple[str, str], list[AnnotationRecord]] = {}
    for r in records:
        by_doc.setdefault((r.corpus, r.doc_id), []).append(r)
    chosen = []
    for group in by_doc.values():
        gold = [r for r in group if is_gold(r.annotator)]
        if gold:
            chosen.append(gold[0])
        elif len(group) == 1:
            chosen.append(group[0])
    return sorted(chosen, key=lambda r: r.key)
