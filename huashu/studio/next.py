"""Active learning: choose the next batch to annotate.

Candidates are the pool's documents not yet in the standoff store nor in the LS project. Each
gets an informativeness signal:

- **model uncertainty** when the detector implements :class:`UncertaintyDetector`
  (``token_uncertainty(doc) -> float``, e.g. mean token entropy or 1 − margin of the tagger);
- otherwise (the rules detector) a **fallback**, said out loud in the report: rules device density
  (spans per 1,000 characters, saturating) plus a prior for a clickbait headline. That is a
  relevance signal, not uncertainty: it finds device-rich articles, which is what a cold start needs.

Diversity: greedy maximal marginal relevance over character n-gram TF-IDF (scikit-learn), so the
batch is not N near-duplicates: ``score = λ·signal/max(signal) − (1−λ)·max cosine similarity to the
documents already chosen``. The report says why each document was chosen.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from huashu.spans import Document, Span
from huashu.studio import StudioError

log = logging.getLogger(__name__)

CLICKBAIT_PRIOR = 0.3
DENSITY_SCALE = 5.0  # spans per 1,000 chars at which the fallback signal reaches 1 − 1/e


@runtime_checkable
class UncertaintyDetector(Protocol):
    """A detector that can say how unsure it is about a document (higher = more unsure)."""

    def token_uncertainty(self, doc: Document) -> float: ...


@dataclass
class Candidate:
    doc: Document
    spans: list[Span]
    signal: float
    score: float = 0.0
    nearest: float = 0.0  # cosine similarity to the most similar document chosen before it
    nearest_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc.id, "title": self.doc.title or "", "chars": len(self.doc.text),
                "signal": round(self.signal, 4), "score": round(self.score, 4),
                "nearest_similarity": round(self.nearest, 4), "nearest_doc": self.nearest_id,
                "pre_annotations": len(self.spans)}


@dataclass
class Choice:
    picked: list[Candidate]
    pool: int
    excluded: int
    signal: str  # what "signal" means for this run
    uses_model_uncertainty: bool
    model_version: str
    lam: float
    candidates: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"pool": self.pool, "excluded_already_labelled_or_pushed": self.excluded,
                "candidates": self.candidates, "signal": self.signal,
                "uses_model_uncertainty": self.uses_model_uncertainty, "model_version": self.model_version,
                "lambda": self.lam, "notes": self.notes, "picked": [c.to_dict() for c in self.picked]}


def fallback_signal(doc: Document, spans: list[Span], headline_labels: set[str]) -> float:
    """Rules device density (saturating) + a clickbait-headline prior."""
    body = [s for s in spans if s.label not in headline_labels]
    density = 1000.0 * len(body) / max(len(doc.text), 1)
    signal = 1.0 - math.exp(-density / DENSITY_SCALE)
    if any(s.label in headline_labels for s in spans) or doc.meta.get("clickbait_label") == 1:
        signal += CLICKBAIT_PRIOR
    return signal


def mmr(texts: list[str], relevance: list[float], k: int, lam: float) -> list[tuple[int, float, float, int]]:
    """Greedy MMR; returns (index, mmr score, max similarity to earlier picks, index of that pick)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not texts:
        return []
    vec = TfidfVectorizer(analyzer="char", ngram_range=(2, 3), sublinear_tf=True, max_features=200_000)
    x = vec.fit_transform([t[:20000] for t in texts])  # rows are L2-normalised: dot = cosine
    rel = np.asarray(relevance, dtype=float)
    top = rel.max() if rel.size and rel.max() > 0 else 1.0
    rel = rel / top
    max_sim = np.zeros(len(texts))
    arg_sim = np.full(len(texts), -1)
    taken = np.zeros(len(texts), dtype=bool)
    out = []
    for _ in range(min(k, len(texts))):
        scores = lam * rel - (1 - lam) * max_sim
        scores[taken] = -np.inf
        i = int(scores.argmax())
        out.append((i, float(scores[i]), float(max_sim[i]), int(arg_sim[i])))
        taken[i] = True
        sim = (x @ x[i].T).toarray().ravel()
        better = sim > max_sim
        max_sim[better] = sim[better]
        arg_sim[better] = i
    return out


def known_doc_ids(studio: Any | None, project_id: int | None, store_dir: Path | None) -> set[str]:
    from huashu.annotations import iter_store

    ids: set[str] = set()
    try:
        ids |= {r.doc_id for r in iter_store(store_dir)}
    except (ValueError, FileNotFoundError) as e:
        raise StudioError(f"cannot read the annotation store: {e}") from None
    if studio is not None and project_id is not None:
        from huashu.studio.push import existing_tasks

        ids |= {doc_id for doc_id, _ in existing_tasks(studio, project_id)}
    return ids


def choose(docs: list[Document], detector: Any, k: int, lam: float = 0.7, studio: Any | None = None,
           project_id: int | None = None, store_dir: Path | None = None, progress: bool = True) -> Choice:
    if detector is None:
        raise StudioError("`studio next` needs a detector (--detector default|rules|<model dir>)")
    if k <= 0:
        raise StudioError("--k must be positive")
    if not 0.0 <= lam <= 1.0:
        raise StudioError("--lambda must be in [0, 1]")
    from huashu.studio.push import detector_version
    from huashu.taxonomy import load_taxonomy

    known = known_doc_ids(studio, project_id, store_dir)
    pool = [d for d in docs if d.id not in known]
    uses_model = isinstance(detector, UncertaintyDetector)
    notes = []
    if uses_model:
        what = "model uncertainty (token_uncertainty)"
    else:
        what = "rules device density + clickbait prior (NOT model uncertainty)"
        notes.append(f"detector {detector_version(detector)} has no token_uncertainty(): ranking by "
                     "rules device density per 1,000 chars with a clickbait-headline prior")
        log.warning(notes[-1])
    headline = {label.id for label in load_taxonomy().labels if label.span_level == "headline"}

    from rich.progress import Progress

    cands: list[Candidate] = []
    with Progress(transient=True, disable=not progress) as bar:
        job = bar.add_task("scoring the pool", total=len(pool))
        for i in range(0, len(pool), 32):
            batch = pool[i:i + 32]
            for d, spans in zip(batch, detector.detect_batch(batch), strict=True):
                signal = (float(detector.token_uncertainty(d)) if uses_model
                          else fallback_signal(d, spans, headline))
                cands.append(Candidate(d, spans, signal))
            bar.advance(job, len(batch))
    picks = mmr([c.doc.text for c in cands], [c.signal for c in cands], k, lam)
    picked = []
    for i, score, sim, j in picks:
        c = cands[i]
        c.score, c.nearest, c.nearest_id = score, sim, cands[j].doc.id if j >= 0 else ""
        picked.append(c)
    return Choice(picked, pool=len(docs), excluded=len(docs) - len(pool), signal=what,
                  uses_model_uncertainty=uses_model, model_version=detector_version(detector), lam=lam,
                  candidates=len(cands), notes=notes)


def print_choice(choice: Choice, console: Any) -> None:
    from rich.table import Table

    for note in choice.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"pool {choice.pool} documents, {choice.excluded} already labelled or in the project, "
                  f"{choice.candidates} candidates; signal = {choice.signal}; MMR λ = {choice.lam}")
    table = Table(title=f"next batch ({len(choice.picked)})")
    for col in ("#", "doc", "title", "signal", "MMR score", "nearest chosen (cos)", "pre-ann."):
        table.add_column(col)
    for n, c in enumerate(choice.picked, 1):
        near = f"{c.nearest:.2f} {c.nearest_id}" if c.nearest_id else "— (first)"
        table.add_row(str(n), c.doc.id, (c.doc.title or "")[:30], f"{c.signal:.3f}", f"{c.score:.3f}", near,
                      str(len(c.spans)))
    console.print(table)
