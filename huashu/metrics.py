"""Span metrics: exact match and SemEval-2020 Task 11 partial overlap.

Shared by evaluation (`huashu eval`) and inter-annotator agreement (huashu/studio/agreement.py may
import it). Offsets are Python code points; spans of one label never overlap within a document
(``validate_spans``), which keeps the partial-overlap sums bounded by 1 per span.

SemEval-2020 T11 (Da San Martino et al. 2020), technique-classification-with-spans metric::

    C(s, t, h) = |s ∩ t| / h · δ(label(s), label(t))
    P(S, T)    = 1/|S| · Σ_s Σ_t C(s, t, |s|)        (S: predicted spans)
    R(S, T)    = 1/|T| · Σ_t Σ_s C(s, t, |t|)        (T: gold spans)

Sums run over every document of the corpus (micro over documents). Per label, S and T are
restricted to that label; "micro" pools all labels; "macro" averages the per-label P, R and F1 over
the labels that occur in gold or predictions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from huashu.spans import Span


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


@dataclass
class Counts:
    """Sufficient statistics for one label (or pooled): add them across documents and folds."""

    n_pred: int = 0
    n_gold: int = 0
    exact_tp: int = 0
    partial_p: float = 0.0  # Σ_s Σ_t |s∩t|/|s| over predictions
    partial_r: float = 0.0  # Σ_t Σ_s |s∩t|/|t| over gold

    def __iadd__(self, other: Counts) -> Counts:
        self.n_pred += other.n_pred
        self.n_gold += other.n_gold
        self.exact_tp += other.exact_tp
        self.partial_p += other.partial_p
        self.partial_r += other.partial_r
        return self

    def scores(self) -> dict[str, float | int]:
        ep = self.exact_tp / self.n_pred if self.n_pred else 0.0
        er = self.exact_tp / self.n_gold if self.n_gold else 0.0
        pp = self.partial_p / self.n_pred if self.n_pred else 0.0
        pr = self.partial_r / self.n_gold if self.n_gold else 0.0
        return {
            "n_gold": self.n_gold,
            "n_pred": self.n_pred,
            "exact_p": ep,
            "exact_r": er,
            "exact_f1": _f1(ep, er),
            "partial_p": pp,
            "partial_r": pr,
            "partial_f1": _f1(pp, pr),
        }

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def overlap(a: Span, b: Span) -> int:
    """Characters shared by two half-open spans."""
    return max(0, min(a.end, b.end) - max(a.start, b.start))


def doc_counts(gold: Sequence[Span], pred: Sequence[Span]) -> dict[str, Counts]:
    """Per-label counts for one document."""
    out: dict[str, Counts] = {}
    gold_keys = {(s.start, s.end, s.label) for s in gold}
    for s in pred:
        c = out.setdefault(s.label, Counts())
        c.n_pred += 1
        c.exact_tp += (s.start, s.end, s.label) in gold_keys
        c.partial_p += sum(overlap(s, t) for t in gold if t.label == s.label) / (s.end - s.start)
    for t in gold:
        c = out.setdefault(t.label, Counts())
        c.n_gold += 1
        c.partial_r += sum(overlap(s, t) for s in pred if s.label == t.label) / (t.end - t.start)
    return out


def corpus_counts(
    gold: Mapping[str, Sequence[Span]],
    pred: Mapping[str, Sequence[Span]],
    labels: Iterable[str] | None = None,
) -> dict[str, Counts]:
    """Per-label counts over documents (keys of ``gold``; a document missing from ``pred`` has
    no predictions). Spans with labels outside ``labels`` are ignored when ``labels`` is given."""
    keep = set(labels) if labels is not None else None
    total: dict[str, Counts] = {label: Counts() for label in (labels or [])}
    for doc_id, g in gold.items():
        p = pred.get(doc_id, [])
        if keep is not None:
            g = [s for s in g if s.label in keep]
            p = [s for s in p if s.label in keep]
        for label, c in doc_counts(g, p).items():
            total.setdefault(label, Counts())
            total[label] += c
    return total


def summarize(counts: Mapping[str, Counts]) -> dict[str, dict[str, float | int]]:
    """Per-label scores plus "micro" (pooled) and "macro" (mean over labels seen in gold or
    predictions)."""
    out: dict[str, dict[str, float | int]] = {label: c.scores() for label, c in counts.items()}
    pooled = Counts()
    for c in counts.values():
        pooled += c
    out["micro"] = pooled.scores()
    seen = [out[label] for label, c in counts.items() if c.n_gold or c.n_pred]
    macro: dict[str, float | int] = {"n_gold": pooled.n_gold, "n_pred": pooled.n_pred}
    for key in ("exact_p", "exact_r", "exact_f1", "partial_p", "partial_r", "partial_f1"):
        macro[key] = sum(float(s[key]) for s in seen) / len(seen) if seen else 0.0
    out["macro"] = macro
    return out


def choose_sources(
    scores: Mapping[str, Mapping[str, Mapping[str, float | int]]],
    labels: Sequence[str],
    allowed: Mapping[str, Iterable[str]] | None = None,
) -> tuple[dict[str, str], float]:
    """Per label, the source (a key of ``scores``, each a ``span_scores`` result on the same
    documents) that makes the pooled micro partial F1 of the combination highest, and that F1.

    Picking each label's best F1 on its own can lower the micro F1 (a label with a better F1 but
    many more, less precise predictions drags the pool down), so this climbs on the micro F1
    itself, pooled exactly from the per-label counts, starting from the best single source.
    ``allowed`` (label → sources) restricts the choice per label, e.g. to sources that do not
    fragment it; a label missing from it may take any source.
    """
    sources = list(scores)
    ok = {lb: [src for src in sources if allowed is None or lb not in allowed or src in set(allowed[lb])]
          for lb in labels}
    if any(not ok[lb] for lb in labels):
        raise ValueError(f"no allowed source for {[lb for lb in labels if not ok[lb]]}")

    def micro(choice: Mapping[str, str]) -> float:
        rows = [scores[choice[lb]][lb] for lb in labels]
        n_pred, n_gold = sum(r["n_pred"] for r in rows), sum(r["n_gold"] for r in rows)
        p = sum(float(r["partial_p"]) * r["n_pred"] for r in rows) / n_pred if n_pred else 0.0
        r_ = sum(float(r["partial_r"]) * r["n_gold"] for r in rows) / n_gold if n_gold else 0.0
        return _f1(p, r_)

    everywhere = [src for src in sources if all(src in ok[lb] for lb in labels)]
    if everywhere:
        start = max(everywhere, key=lambda src: micro(dict.fromkeys(labels, src)))
        choice = dict.fromkeys(labels, start)
    else:
        choice = {lb: ok[lb][0] for lb in labels}
    best = micro(choice)
    improved = True
    while improved:
        improved = False
        for lb in labels:
            for src in ok[lb]:
                f1 = micro({**choice, lb: src})
                if f1 > best + 1e-12:
                    choice, best, improved = {**choice, lb: src}, f1, True
    return choice, best


def span_scores(
    gold: Mapping[str, Sequence[Span]],
    pred: Mapping[str, Sequence[Span]],
    labels: Iterable[str] | None = None,
) -> dict[str, dict[str, float | int]]:
    """Exact and partial-overlap P/R/F1 per label, micro and macro, over a corpus."""
    return summarize(corpus_counts(gold, pred, labels))


def agreement(a: Sequence[Span], b: Sequence[Span]) -> dict[str, dict[str, float | int]]:
    """Pairwise agreement of two annotators on one document: the partial-overlap scores with ``a``
    as reference (partial F1 is symmetric in a and b)."""
    return span_scores({"doc": a}, {"doc": b})


def false_alarm_density(pred: Mapping[str, Sequence[Span]], lengths: Mapping[str, int]) -> float:
    """Predicted spans per 1,000 characters over the given documents (meant for documents with no
    gold spans, e.g. plain wire reports)."""
    chars = sum(lengths.values())
    n = sum(len(pred.get(doc_id, [])) for doc_id in lengths)
    return 1000.0 * n / chars if chars else 0.0


def binary_scores(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float | int]:
    """Accuracy, precision, recall and F1 of the positive class (headline clickbait)."""
    tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t and p)
    fp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if not t and p)
    fn = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t and not p)
    n = len(y_true)
    acc = sum(1 for t, p in zip(y_true, y_pred, strict=True) if bool(t) == bool(p)) / n if n else 0.0
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {"n": n, "accuracy": acc, "precision": prec, "recall": rec, "f1": _f1(prec, rec)}
