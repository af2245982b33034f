"""Experiment: the rules detector on two fixed halves of the gold, a development half and a test half.

Why: the rules need no training, so cross-validation does not protect them from being tuned on the
articles they are scored on. When a rule is written after reading the rules' misses, read them on
the development half only and report the test half: that figure is what a new article should see.
The halves are fixed by the parity of the SHA-256 of the document id (stable as the gold grows).

Run (seconds; no article text is written)::

    .venv/bin/python -m huashu.train.experiments.rules_split                 # both halves, a table
    .venv/bin/python -m huashu.train.experiments.rules_split --misses dev --label engagement_bait

``--misses`` lists the gold spans the rules miss and the spans they add that overlap no gold span,
for one half and one label, to the terminal only (the text of HanCD articles never enters the repo).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections.abc import Sequence

from huashu.detector import load_detector
from huashu.errors import UserError
from huashu.metrics import span_scores
from huashu.spans import Span
from huashu.train.dataset import Example, load_gold, span_labels

log = logging.getLogger("huashu.experiments.rules_split")

HALVES = ("dev", "test")


def half_of(doc_id: str) -> str:
    """``dev`` or ``test``: the parity of the SHA-256 of the document id."""
    return "dev" if int(hashlib.sha256(doc_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


def split_halves(gold: Sequence[Example]) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {h: [] for h in HALVES}
    for ex in gold:
        out[half_of(ex.doc.id)].append(ex)
    return out


def scores(examples: Sequence[Example], pred: dict[str, list[Span]], labels: Sequence[str]) -> dict:
    gold = {ex.doc.id: [s for s in ex.spans if s.label in labels] for ex in examples}
    return span_scores(gold, {i: pred[i] for i in gold}, labels)


def table(results: dict[str, dict], labels: Sequence[str]) -> str:
    rows = ["| label | " + " | ".join(f"{h}: gold, P / R / **F1**" for h in results) + " |",
            "|---|" + "---|" * len(results)]
    for lb in [*labels, "micro", "macro"]:
        cells = []
        for r in results.values():
            s = r.get(lb)
            if s is None:
                cells.append("–")
                continue
            p, rc, f1 = s["partial_p"], s["partial_r"], s["partial_f1"]
            cells.append(f"{s['n_gold']}, {p:.2f} / {rc:.2f} / **{f1:.3f}**")
        rows.append(f"| {lb} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def misses(examples: Sequence[Example], pred: dict[str, list[Span]], label: str) -> list[str]:
    lines = []
    for ex in examples:
        text = ex.doc.text
        gs = [s for s in ex.spans if s.label == label]
        ps = [s for s in pred[ex.doc.id] if s.label == label]
        for g in gs:
            if not any(g.overlaps(p) for p in ps):
                lines.append(f"MISS {ex.doc.id}: {text[max(0, g.start - 8):g.start]}【{text[g.start:g.end]}】"
                             f"{text[g.end:g.end + 6]}")
        for p in ps:
            if not any(p.overlaps(g) for g in gs):
                lines.append(f"ADDED {ex.doc.id} ({p.source}): 【{text[p.start:p.end]}】")
    return [line.replace("\n", "⏎") for line in lines]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--misses", choices=HALVES, help="list misses and unmatched spans of this half")
    ap.add_argument("--label", help="with --misses: the label to list")
    ap.add_argument("--json", action="store_true", help="print the scores as JSON instead of a table")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        gold = load_gold()
    except UserError as e:  # no corpus, a changed article: say so, no traceback
        log.error("%s", e)
        return 2
    labels = span_labels()
    rules = load_detector("rules")
    pred = {ex.doc.id: rules.detect(ex.doc) for ex in gold}
    halves = split_halves(gold)
    if a.misses:
        if a.label not in labels:
            ap.error(f"--label must be one of {', '.join(labels)}")
        for line in misses(halves[a.misses], pred, a.label):
            sys.stdout.write(line + "\n")
        return 0
    results = {f"{h} ({len(halves[h])} articles)": scores(halves[h], pred, labels) for h in HALVES}
    if a.json:
        sys.stdout.write(json.dumps(results, indent=1) + "\n")
    else:
        sys.stdout.write(f"rules {rules.version}\n\n{table(results, labels)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
