"""The scoring result: one object for `huashu score --json`, the HTTP server and batch scoring.

:func:`score_document` runs a detector on a document and builds the response contract (issue 4 §1)::

    {"id", "spans": [{"start", "end", "label", "score", "text", "source"}],
     "summary": {label: {"count", "per_1000_chars"}}, "coverage", "article_score",
     "explanation", "headline": {"text", "clickbait_probability", "source"} | null,
     "model": {"id", "version"}, "elapsed_ms", "chars"}

Offsets are code points into the **raw input** when ``raw_offsets`` and the document has an
offset map (the text the user gave: the file, the submitted text), else into ``doc.text``.
``"text"`` is that input's text of the span (pass ``raw_text``; without it the cleaned text of
the span is used, which is the same characters unless the span crosses removed page chrome).

``headline.source`` says how the headline was found (huashu.ingest.TITLE_SOURCES: "title_field",
"option", "html", "page_rule", "first_line"; null for a Document built without ingestion).

The article score (0..1, document level) is a saturating weighted density::

    weighted = sum(span.score * LABEL_WEIGHTS[span.label])            # body spans
    density  = weighted * 1000 / max(chars, MIN_CHARS)                 # per 1,000 characters
    body     = 1 - exp(-density / SATURATION)
    article_score = 1 - (1 - body) * (1 - HEADLINE_WEIGHT * clickbait_probability)

so one confident device per 1,000 characters gives ~0.18, four give ~0.55, ten ~0.86; short
texts are measured as if they had MIN_CHARS characters, so one device in a tweet does not
saturate the score. No CLI or terminal imports here: the server imports this module.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from huashu.detector import Detector
from huashu.spans import Document, Span, text_hash
from huashu.taxonomy import Taxonomy, load_taxonomy

SATURATION = 5.0
MIN_CHARS = 500
HEADLINE_WEIGHT = 0.5
# How much one span of a label counts towards the article score (1.0 = a full device).
# clickbait_title is scored through the headline term instead of the body density.
LABEL_WEIGHTS: dict[str, float] = {
    "engagement_bait": 0.5,
    "clickbait_title": 0.0,
}


class ScoringError(ValueError):
    """Bad scoring arguments (unknown label, threshold out of range): a message for the user."""


def default_doc_id(text: str) -> str:
    """The id of a submitted text that came without one (server and Python API)."""
    return "sha256:" + text_hash(text)[:16]


def check_options(labels: Iterable[str] | None, threshold: float | None,
                  taxonomy: Taxonomy | None = None) -> list[str]:
    """The labels to report (all taxonomy labels when None); raises ScoringError on bad input."""
    taxonomy = taxonomy or load_taxonomy()
    if threshold is not None and not (0.0 <= float(threshold) <= 1.0):
        raise ScoringError(f"threshold {threshold} is outside [0, 1]")
    if labels is None:
        return list(taxonomy.ids)
    wanted = list(dict.fromkeys(labels))
    unknown = [x for x in wanted if x not in taxonomy]
    if unknown:
        raise ScoringError(f"unknown label(s) {', '.join(map(repr, unknown))}; "
                           f"known: {', '.join(taxonomy.ids)}")
    if not wanted:
        raise ScoringError("no labels selected")
    return wanted


def article_score(spans: Sequence[Span], chars: int, clickbait_probability: float | None = None) -> float:
    weighted = sum(s.score * LABEL_WEIGHTS.get(s.label, 1.0) for s in spans)
    density = weighted * 1000.0 / max(chars, MIN_CHARS)
    body = 1.0 - math.exp(-density / SATURATION)
    head = HEADLINE_WEIGHT * (clickbait_probability or 0.0)
    return round(1.0 - (1.0 - body) * (1.0 - head), 4)


def coverage(spans: Sequence[Span], chars: int) -> float:
    """Share of characters covered by at least one span."""
    if chars <= 0:
        return 0.0
    covered = 0
    end = -1
    for s in sorted(spans):
        if s.end <= end:
            continue
        covered += s.end - max(s.start, end)
        end = s.end
    return round(covered / chars, 4)


def explanation(counts: Counter[str], chars: int, taxonomy: Taxonomy) -> str:
    total = sum(counts.values())
    per_k = total * 1000.0 / chars if chars else 0.0
    if total == 0:
        return f"未发现话术 / no devices found in {chars:,} chars"
    top = [label for label, _ in counts.most_common(2)]
    names = ", ".join(f"{lab} ({taxonomy[lab].zh})" for lab in top)
    noun = "device" if total == 1 else "devices"
    return f"{total} {noun}, mostly {names}; {per_k:.1f} per 1,000 chars"


def _raw_span(doc: Document, span: Span) -> tuple[int, int]:
    if doc.offsets is None:
        return span.start, span.end
    return doc.offsets.span_to_raw(span.start, span.end)


def build_result(detector: Detector, doc: Document, spans: Sequence[Span], *,
                 labels: Iterable[str] | None = None, threshold: float | None = None,
                 raw_offsets: bool = True, raw_text: str | None = None,
                 elapsed_ms: float | None = None, taxonomy: Taxonomy | None = None) -> dict[str, Any]:
    """The contract object for spans already detected (``doc.text`` coordinates)."""
    t0 = time.perf_counter()
    taxonomy = taxonomy or load_taxonomy()
    wanted = check_options(labels, threshold, taxonomy)
    keep = set(wanted)
    spans = sorted(s for s in spans if s.label in keep and (threshold is None or s.score >= threshold))
    chars = len(doc.text)

    use_raw = raw_offsets and doc.offsets is not None
    out_spans = []
    for s in spans:
        if use_raw:
            start, end = _raw_span(doc, s)
            text = raw_text[start:end] if raw_text is not None else doc.text[s.start:s.end]
        else:
            start, end, text = s.start, s.end, doc.text[s.start:s.end]
        d: dict[str, Any] = {"start": start, "end": end, "label": s.label,
                             "score": round(float(s.score), 4), "text": text}
        if s.source:
            d["source"] = s.source
        out_spans.append(d)

    counts: Counter[str] = Counter(s.label for s in spans)
    summary = {lab: {"count": counts.get(lab, 0),
                     "per_1000_chars": round(counts.get(lab, 0) * 1000.0 / chars, 2) if chars else 0.0}
               for lab in wanted}

    headline = None
    p_click: float | None = None
    if doc.title:
        doc_fn = getattr(detector, "clickbait_probability_doc", None)  # headline + body lead
        prob_fn = getattr(detector, "clickbait_probability", None)
        if callable(doc_fn):
            p_click = doc_fn(doc)
        elif callable(prob_fn):
            p_click = prob_fn(doc.title)
        else:
            click = [s.score for s in spans if s.label == "clickbait_title"]
            p_click = max(click) if click else None
        headline = {"text": doc.title, "clickbait_probability": p_click,
                    "source": doc.meta.get("title_source")}

    if elapsed_ms is None:
        elapsed_ms = 0.0
    elapsed_ms += (time.perf_counter() - t0) * 1000.0
    return {
        "id": doc.id,
        "spans": out_spans,
        "summary": summary,
        "coverage": coverage(spans, chars),
        "article_score": article_score(spans, chars, p_click if "clickbait_title" in keep else None),
        "explanation": explanation(counts, chars, taxonomy),
        "headline": headline,
        "model": {"id": str(getattr(detector, "id", None) or detector.name),
                  "version": str(detector.version)},
        "elapsed_ms": round(elapsed_ms, 2),
        "chars": chars,
        "offsets": "raw" if use_raw else "text",
    }


def score_document(detector: Detector, doc: Document, *, labels: Iterable[str] | None = None,
                   threshold: float | None = None, raw_offsets: bool = True,
                   raw_text: str | None = None) -> dict[str, Any]:
    """Detect devices in ``doc`` and build the response contract (see the module docstring)."""
    labels = list(labels) if labels is not None else None
    check_options(labels, threshold)  # fail before the (possibly slow) detector runs
    t0 = time.perf_counter()
    spans = detector.detect(doc)
    ms = (time.perf_counter() - t0) * 1000.0
    return build_result(detector, doc, spans, labels=labels, threshold=threshold, raw_offsets=raw_offsets,
                        raw_text=raw_text, elapsed_ms=ms)


def score_documents(detector: Detector, docs: Sequence[Document], *, labels: Iterable[str] | None = None,
                    threshold: float | None = None, raw_offsets: bool = True,
                    raw_texts: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
    """Batch version (one ``detect_batch`` call; elapsed_ms is the batch time shared evenly)."""
    labels = list(labels) if labels is not None else None
    check_options(labels, threshold)
    if not docs:
        return []
    t0 = time.perf_counter()
    all_spans = detector.detect_batch(list(docs))
    ms = (time.perf_counter() - t0) * 1000.0 / len(docs)
    raw_texts = raw_texts or [None] * len(docs)
    return [build_result(detector, d, s, labels=labels, threshold=threshold, raw_offsets=raw_offsets,
                         raw_text=r, elapsed_ms=ms)
            for d, s, r in zip(docs, all_spans, raw_texts, strict=True)]
