"""The gold corpus as a whole: statistics and SemEval-2020 T11 export.

Both read the standoff store (labels/annotations/*.jsonl) and resolve article text from its
corpus at run time (huashu.corpus), checking each record's sha256.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from huashu.annotations import AnnotationRecord, is_gold, iter_store, training_records

log = logging.getLogger(__name__)


def corpus_stats(records: list[AnnotationRecord], texts: dict[tuple[str, str], str] | None = None
                 ) -> dict[str, Any]:
    """Articles, spans per label, characters, annotators and double annotation, over the store.

    ``texts`` (corpus, doc_id) -> text adds character counts and density when given."""
    gold = training_records(records)
    by_doc: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in records:
        if not is_gold(r.annotator):
            by_doc[(r.corpus, r.doc_id)].add(r.annotator)
    labels = Counter(s.label for r in gold for s in r.spans)
    stats: dict[str, Any] = {
        "articles": len(gold),
        "articles_by_corpus": dict(Counter(r.corpus for r in gold)),
        "articles_without_spans": sum(1 for r in gold if not r.spans),
        "spans": sum(labels.values()),
        "spans_per_label": dict(sorted(labels.items(), key=lambda kv: -kv[1])),
        "annotators": dict(Counter(r.annotator for r in records)),
        "double_annotated": sum(1 for a in by_doc.values() if len(a) >= 2),
        "adjudicated": sum(1 for r in records if is_gold(r.annotator)),
        "awaiting_adjudication": sorted(
            f"{c}/{d}" for (c, d), a in by_doc.items()
            if len(a) >= 2 and not any(is_gold(r.annotator) and (r.corpus, r.doc_id) == (c, d)
                                       for r in records)),
    }
    stats["review"] = review_changes(records)
    if texts is not None:
        chars = sum(len(texts[(r.corpus, r.doc_id)]) for r in gold if (r.corpus, r.doc_id) in texts)
        stats["chars"] = chars
        stats["spans_per_1000_chars"] = round(stats["spans"] * 1000 / chars, 2) if chars else 0.0
    return stats


def review_changes(records: list[AnnotationRecord]) -> dict[str, Any]:
    """What review changed: on documents with one annotator and an adjudicated (gold) record, the
    first annotation against the gold (spans kept exactly, changed or dropped, added; partial and
    exact micro F1 of the first annotation taking the gold as reference)."""
    from huashu.metrics import span_scores

    by_doc: dict[tuple[str, str], list[AnnotationRecord]] = defaultdict(list)
    for r in records:
        by_doc[(r.corpus, r.doc_id)].append(r)
    first, gold = {}, {}
    for key, group in by_doc.items():
        g = [r for r in group if is_gold(r.annotator)]
        a = [r for r in group if not is_gold(r.annotator)]
        if g and len(a) == 1:
            first[f"{key[0]}/{key[1]}"] = a[0].spans
            gold[f"{key[0]}/{key[1]}"] = g[0].spans
    if not first:
        return {"documents": 0}

    def keys(spans: list[Any]) -> set[tuple[int, int, str]]:
        return {(s.start, s.end, s.label) for s in spans}

    kept = sum(len(keys(first[k]) & keys(gold[k])) for k in first)
    sc = span_scores(gold, first)["micro"]
    return {
        "documents": len(first),
        "first_spans": sum(len(v) for v in first.values()),
        "gold_spans": sum(len(v) for v in gold.values()),
        "kept_exactly": kept,
        "changed_or_dropped": sum(len(keys(first[k]) - keys(gold[k])) for k in first),
        "added_or_changed": sum(len(keys(gold[k]) - keys(first[k])) for k in first),
        "partial_f1": round(float(sc["partial_f1"]), 3),
        "exact_f1": round(float(sc["exact_f1"]), 3),
    }


def resolve_texts(records: list[AnnotationRecord]) -> dict[tuple[str, str], str]:
    from huashu.corpus import resolve_record

    out = {}
    for r in training_records(records):
        out[(r.corpus, r.doc_id)] = resolve_record(r).text
    return out


def export_semeval(out_dir: Path, records: list[AnnotationRecord] | None = None) -> int:
    """Write SemEval-2020 T11 files: article<id>.txt and article<id>.labels.tsv
    (``id<TAB>technique<TAB>start<TAB>end``, code-point offsets). Returns the article count.

    The output holds article text: write it outside the repository for HanCD."""
    from huashu.corpus import resolve_record

    records = list(records if records is not None else iter_store())
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for r in training_records(records):
        doc = resolve_record(r)
        stem = f"article{r.corpus}-{r.doc_id}"
        (out_dir / f"{stem}.txt").write_text(doc.text, encoding="utf-8")
        lines = [f"{r.corpus}-{r.doc_id}\t{s.label}\t{s.start}\t{s.end}\n" for s in sorted(r.spans)]
        (out_dir / f"{stem}.labels.tsv").write_text("".join(lines), encoding="utf-8")
        n += 1
    return n
