"""labels/DATASHEET.md states the gold corpus's counts per label and source: they must match the store.

Counts come from the standoff records alone (no article text needed), so this runs without HanCD.
A new gold batch fails this test until the datasheet's table is updated.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import yaml

from huashu.annotations import iter_store, training_records
from huashu.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parents[1]
DATASHEET = REPO / "labels" / "DATASHEET.md"
COLUMNS = ("sina", "tencent", "seeds", "total", "test")


def _source(corpus: str, doc_id: str) -> str:
    return "seeds" if corpus == "seeds" else doc_id.split("-")[0]


def _table() -> dict[str, dict[str, int]]:
    """Rows of the "Counts per label and source" table: first cell → the numeric columns."""
    text = DATASHEET.read_text(encoding="utf-8")
    section = text.split("### Counts per label and source", 1)[1].split("\n### ", 1)[0]
    rows: dict[str, dict[str, int]] = {}
    for line in section.splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not re.fullmatch(r"[\d,]+", cells[1]):
            continue
        values = zip(COLUMNS, cells[1:], strict=True)
        rows[cells[0]] = {col: int(v.replace(",", "")) for col, v in values if v}
    return rows


def _store_counts() -> tuple[Counter, Counter, Counter]:
    """(spans by (source, label), articles by source, test-split spans by label) from gold records."""
    gold = training_records(iter_store())
    splits = yaml.safe_load((REPO / "labels" / "splits.yaml").read_text(encoding="utf-8"))
    test = {doc for ids in splits["test"].values() for doc in ids}
    spans: Counter = Counter()
    docs: Counter = Counter()
    test_spans: Counter = Counter()
    for r in gold:
        src = _source(r.corpus, r.doc_id)
        docs[src] += 1
        for s in r.spans:
            spans[(src, s.label)] += 1
            if r.doc_id in test:
                test_spans[s.label] += 1
    return spans, docs, test_spans


def test_datasheet_label_table_matches_the_gold_store():
    rows = _table()
    labels = load_taxonomy().ids
    assert set(labels) <= set(rows), f"labels missing from the datasheet table: {set(labels) - set(rows)}"
    spans, docs, test_spans = _store_counts()
    wrong = []
    for label in labels:
        row = rows[label]
        want = {src: spans[(src, label)] for src in ("sina", "tencent", "seeds")}
        want["total"] = sum(want.values())
        want["test"] = test_spans[label]
        if row != want:
            wrong.append(f"{label}: datasheet {row}, store {want}")
    sources = ("sina", "tencent", "seeds")
    spans_row = {src: sum(n for (s, _), n in spans.items() if s == src) for src in sources}
    spans_row["total"] = sum(spans.values())
    spans_row["test"] = sum(test_spans.values())
    if rows.get("spans") != spans_row:
        wrong.append(f"spans: datasheet {rows.get('spans')}, store {spans_row}")
    articles = {src: docs[src] for src in ("sina", "tencent", "seeds")}
    articles["total"] = sum(docs.values())
    got = {k: v for k, v in rows.get("articles", {}).items() if k != "test"}
    if got != articles:
        wrong.append(f"articles: datasheet {got}, store {articles}")
    assert not wrong, "labels/DATASHEET.md is out of date:\n" + "\n".join(wrong)
