"""Inter-annotator agreement over the standoff store (works offline: no LS needed).

For every document with two or more annotators (the adjudicated ``gold`` record excluded), each
pair of annotators is compared with the SemEval-2020 Task 11 span metric (partial credit: overlap
characters / span length, label-aware; see huashu/metrics.py) and exact-match F1, per label and
pooled (micro) over all documents the pair shares. Partial F1 is symmetric in the two annotators.
Disagreements list, per document and label, the spans each side has that the other lacks exactly.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huashu.annotations import AnnotationRecord, is_gold, iter_store
from huashu.metrics import Counts, doc_counts, summarize
from huashu.spans import Document, Span

log = logging.getLogger(__name__)


@dataclass
class PairResult:
    a: str
    b: str
    docs: int
    scores: dict[str, dict[str, float | int]]


@dataclass
class Report:
    documents: int  # documents with ≥2 annotators
    annotators: list[str]
    pairs: list[PairResult] = field(default_factory=list)
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    pooled: dict[str, dict[str, float | int]] = field(default_factory=dict)  # all pairs' counts summed

    def to_dict(self) -> dict[str, Any]:
        return {"documents": self.documents, "annotators": self.annotators,
                "pooled": self.pooled,
                "pairs": [p.__dict__ for p in self.pairs], "disagreements": self.disagreements}


def _texts(records: Sequence[AnnotationRecord], docs: dict[str, Document]) -> dict[tuple[str, str], str]:
    """Document texts to quote disagreements: from ``docs`` (by id and hash) or the corpus."""
    out: dict[tuple[str, str], str] = {}
    for r in records:
        key = (r.corpus, r.doc_id)
        if key in out:
            continue
        d = docs.get(r.doc_id)
        if d is not None and d.sha256 == r.sha256:
            out[key] = d.text
            continue
        try:
            from huashu.corpus import resolve_record

            out[key] = resolve_record(r).text
        except Exception as e:  # a quote is a convenience: offsets are always reported
            log.debug("no text for %s: %s", key, e)
    return out


def _spans_json(spans: list[Span], text: str | None) -> list[dict[str, Any]]:
    return [{"start": s.start, "end": s.end, **({"text": text[s.start:s.end]} if text else {})}
            for s in sorted(spans)]


def agreement(records: Sequence[AnnotationRecord], docs: dict[str, Document] | None = None,
              exclude: Sequence[str] = ()) -> Report:
    """Pairwise agreement between annotators (adjudicated gold records are not annotators);
    documents whose id is in ``exclude`` are left out."""
    by_doc: dict[tuple[str, str], dict[str, AnnotationRecord]] = {}
    for r in records:
        if not is_gold(r.annotator) and r.doc_id not in exclude:
            by_doc.setdefault((r.corpus, r.doc_id), {})[r.annotator] = r
    multi = {k: v for k, v in by_doc.items() if len(v) >= 2}
    texts = _texts([r for group in multi.values() for r in group.values()], docs or {})
    pair_counts: dict[tuple[str, str], dict[str, Counts]] = {}
    pair_docs: dict[tuple[str, str], int] = {}
    disagreements: list[dict[str, Any]] = []
    for (corpus, doc_id), group in sorted(multi.items()):
        text = texts.get((corpus, doc_id))
        for a, b in itertools.combinations(sorted(group), 2):
            ra, rb = group[a], group[b]
            if ra.sha256 != rb.sha256:
                log.warning("%s: %s and %s annotated different versions of the text; pair skipped",
                            doc_id, a, b)
                continue
            counts = pair_counts.setdefault((a, b), {})
            pair_docs[(a, b)] = pair_docs.get((a, b), 0) + 1
            for label, c in doc_counts(ra.spans, rb.spans).items():  # a as reference, b as "prediction"
                counts.setdefault(label, Counts())
                counts[label] += c
            keys_a = {(s.start, s.end, s.label) for s in ra.spans}
            keys_b = {(s.start, s.end, s.label) for s in rb.spans}
            for label in sorted({s.label for s in ra.spans} | {s.label for s in rb.spans}):
                only_a = [s for s in ra.spans if s.label == label and (s.start, s.end, s.label) not in keys_b]
                only_b = [s for s in rb.spans if s.label == label and (s.start, s.end, s.label) not in keys_a]
                if only_a or only_b:
                    disagreements.append({"corpus": corpus, "doc_id": doc_id, "label": label,
                                          "annotator_a": a, "annotator_b": b,
                                          "a": _spans_json(only_a, text), "b": _spans_json(only_b, text)})
    pairs = [PairResult(a, b, pair_docs[(a, b)], summarize(c)) for (a, b), c in sorted(pair_counts.items())]
    pooled: dict[str, Counts] = {}
    for counts in pair_counts.values():
        for label, c in counts.items():
            pooled.setdefault(label, Counts())
            pooled[label] += c
    annotators = sorted({name for group in multi.values() for name in group})
    return Report(len(multi), annotators, pairs, disagreements, summarize(pooled) if pooled else {})


def compute(store_dir: Path | None = None, corpus: str | None = None,
            docs: dict[str, Document] | None = None, exclude: Sequence[str] = ()) -> Report:
    from huashu.studio import StudioError

    try:
        records = [r for r in iter_store(store_dir) if corpus is None or r.corpus == corpus]
    except ValueError as e:
        raise StudioError(str(e)) from None
    return agreement(records, docs, exclude)


def print_report(rep: Report, console: Any, max_disagreements: int = 30) -> None:
    from rich.table import Table

    if not rep.pairs:
        console.print(f"no document has two or more annotators ({rep.documents} documents): "
                      "nothing to compare")
        return
    console.print(f"{rep.documents} document(s) with ≥2 annotators; annotators: {', '.join(rep.annotators)}")
    for p in rep.pairs:
        table = Table(title=f"{p.a} vs {p.b} ({p.docs} doc{'s' if p.docs != 1 else ''})")
        for col in ("label", "spans a", "spans b", "partial P", "partial R", "partial F1", "exact F1"):
            table.add_column(col, justify="left" if col == "label" else "right")
        for label, s in p.scores.items():
            if label == "macro":
                continue
            table.add_row(label, str(s["n_gold"]), str(s["n_pred"]), f"{s['partial_p']:.3f}",
                          f"{s['partial_r']:.3f}", f"{s['partial_f1']:.3f}", f"{s['exact_f1']:.3f}",
                          style="bold" if label == "micro" else None)
        console.print(table)
    if len(rep.pairs) > 1 and rep.pooled:
        m = rep.pooled["micro"]
        console.print(f"[bold]pooled over all pairs[/] ({rep.documents} documents): partial P "
                      f"{m['partial_p']:.3f} R {m['partial_r']:.3f} F1 {m['partial_f1']:.3f}, "
                      f"exact F1 {m['exact_f1']:.3f}")
        per_label = ", ".join(f"{k} {v['partial_f1']:.2f}" for k, v in rep.pooled.items()
                              if k not in ("micro", "macro"))
        console.print(f"  partial F1 per label: {per_label}", markup=False)
    if rep.disagreements:
        console.print(f"[bold]disagreements[/] ({len(rep.disagreements)}; exact spans one side lacks):")
        for d in rep.disagreements[:max_disagreements]:
            def show(spans: list[dict[str, Any]]) -> str:
                return ", ".join(f"[{s['start']},{s['end']})" + (f" {s['text']}" if "text" in s else "")
                                 for s in spans) or "—"
            console.print(f"  {d['doc_id']} {d['label']}: {d['annotator_a']}: {show(d['a'])} | "
                          f"{d['annotator_b']}: {show(d['b'])}", markup=False)
        if len(rep.disagreements) > max_disagreements:
            console.print(f"  … {len(rep.disagreements) - max_disagreements} more (--json lists all)")
