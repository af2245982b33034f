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

Stratification (``--stratify FIELD``, repeatable): the pool is split into strata by document fields
(:func:`field_value`: ``source`` = the corpus file a document came from, ``wire`` = a news-agency
dateline, or any ``doc.meta`` key such as ``clickbait_label``), each stratum gets a quota (explicit
``--quota VALUE=K`` or ``--k`` split evenly, :func:`split_evenly`), and the uncertainty + MMR choice
runs within each stratum on signals scored once for the whole pool.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from huashu.paths import write_text_atomic
from huashu.spans import Document, Span
from huashu.studio import StudioError

log = logging.getLogger(__name__)

CLICKBAIT_PRIOR = 0.3
DENSITY_SCALE = 5.0  # spans per 1,000 chars at which the fallback signal reaches 1 − 1/e
MISSING = "none"  # the stratum value of a document that lacks the field
SEP = "/"  # joins a stratum's values, in --stratify order: "sina/0"
DERIVED_FIELDS = {
    "source": "the corpus file the document came from (sina, tencent; the directory for .txt/.html files)",
    "wire": "1 if a news-agency dateline (新华社, 记者, …电) opens the text, else 0",
}
_ID_PREFIX = re.compile(r"^(.+?)-\d+$")


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
    stratum: str | None = None  # None when the run is not stratified

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc.id, "title": self.doc.title or "", "chars": len(self.doc.text),
                "signal": round(self.signal, 4), "score": round(self.score, 4),
                "nearest_similarity": round(self.nearest, 4), "nearest_doc": self.nearest_id,
                "pre_annotations": len(self.spans), "stratum": self.stratum}


@dataclass
class Stratum:
    """One stratum of the pool: documents sharing the --stratify fields' values."""

    key: str  # the values joined by SEP, e.g. "sina/0"
    pool: int = 0  # documents loaded
    excluded: int = 0  # already labelled or in the project
    skipped_longer: int = 0  # longer than --skip-longer
    quota: int = 0
    picked: int = 0

    @property
    def candidates(self) -> int:
        return self.pool - self.excluded - self.skipped_longer

    def to_dict(self) -> dict[str, Any]:
        return {"stratum": self.key, "pool": self.pool, "excluded_already_labelled_or_pushed": self.excluded,
                "skipped_longer": self.skipped_longer, "candidates": self.candidates, "quota": self.quota,
                "picked": self.picked}


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
    skipped_longer: int = 0
    stratify: list[str] = field(default_factory=list)
    strata: list[Stratum] = field(default_factory=list)  # empty when the run is not stratified

    def to_dict(self) -> dict[str, Any]:
        return {"pool": self.pool, "excluded_already_labelled_or_pushed": self.excluded,
                "skipped_longer": self.skipped_longer, "candidates": self.candidates, "signal": self.signal,
                "uses_model_uncertainty": self.uses_model_uncertainty, "model_version": self.model_version,
                "lambda": self.lam, "notes": self.notes, "stratify": self.stratify,
                "strata": [st.to_dict() for st in self.strata], "picked": [c.to_dict() for c in self.picked]}

    def selection_rows(self) -> list[dict[str, Any]]:
        """One row per picked document for ``--selection-out`` (the keys of
        ``labels/batches/batch4.selection.jsonl`` before a split is assigned): never article text."""
        rows = []
        for c in self.picked:
            row = c.to_dict()
            del row["title"]
            row.update({"lambda": self.lam, "model_version": self.model_version, "signal_kind": self.signal})
            rows.append(row)
        return rows

    def write_selection(self, path: Path) -> None:
        rows = [json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in self.selection_rows()]
        try:
            write_text_atomic(path, "".join(rows))
        except OSError as e:
            raise StudioError(f"cannot write the selection file {path}: {e.strerror or e}") from None


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


# ---------------------------------------------------------------------------------------- strata

def _source_of(doc: Document) -> str | None:
    """The corpus file's stem for a record (CSV row, JSONL line), the directory for a document that
    is a file of its own (.txt/.html), else the id's prefix (``sina-0162`` → ``sina``)."""
    if doc.meta.get("format") == "record":
        name = Path(str(doc.meta.get("corpus_source") or doc.meta.get("file") or doc.source or "")).stem
    else:  # the file's full path: meta["file"] is only its name
        name = Path(str(doc.meta.get("corpus_source") or doc.source or "")).parent.name
    if name:
        return name
    m = _ID_PREFIX.match(doc.id)
    return m.group(1) if m else None


def field_value(doc: Document, name: str) -> str | None:
    """The value of a --stratify field for a document, None when it lacks it. ``meta.KEY`` reads
    ``doc.meta[KEY]`` even when KEY is also a derived field (the HanCD CSV's own ``source`` column)."""
    if name == "source":
        value: Any = _source_of(doc)
    elif name == "wire":
        from huashu.selection import WIRE

        value = int(bool(WIRE.search(doc.text[:200])))
    else:
        value = doc.meta.get(name.removeprefix("meta."))
    if value is None or value == "":
        return None
    return str(value)


def stratum_of(doc: Document, fields: Sequence[str]) -> str:
    return SEP.join(field_value(doc, f) or MISSING for f in fields)


def check_fields(docs: Sequence[Document], fields: Sequence[str]) -> None:
    """A field no document has is a typo, not a stratum called "none"."""
    if len(set(fields)) != len(fields):
        raise StudioError(f"--stratify names a field twice: {', '.join(fields)}")
    for name in fields:
        if not name or SEP in name:
            raise StudioError(f"--stratify {name!r}: not a field name")
        if name in DERIVED_FIELDS:
            continue
        if not any(field_value(d, name) is not None for d in docs):
            known = sorted({f"meta.{k}" if k in DERIVED_FIELDS else k for d in docs for k, v in d.meta.items()
                            if isinstance(v, str | int | bool) and not k.startswith("title")})
            raise StudioError(f"--stratify {name}: no document has this field (fields: "
                              f"{', '.join([*DERIVED_FIELDS, *known])})")


def parse_quotas(items: Sequence[str], fields: Sequence[str]) -> dict[str, int]:
    """``["sina/0=45", …]`` → ``{"sina/0": 45, …}``; the values in --stratify order."""
    if items and not fields:
        raise StudioError("--quota needs --stratify (the fields whose values the quota names)")
    quotas: dict[str, int] = {}
    for item in items:
        key, eq, num = item.rpartition("=")
        key = key.strip()
        try:
            k = int(num)
        except ValueError:
            k = -1
        if not eq or not key or k < 0:
            raise StudioError(f"--quota {item!r}: expected VALUE=K with K ≥ 0, e.g. "
                              f"{SEP.join(['VALUE'] * len(fields))}=20")
        if len(key.split(SEP)) != len(fields):
            raise StudioError(f"--quota {item!r}: {key!r} has {len(key.split(SEP))} value(s) but --stratify "
                              f"names {len(fields)} field(s) ({SEP.join(fields)}); join the values with "
                              f"{SEP!r} in that order")
        if key in quotas:
            raise StudioError(f"--quota {key} given twice")
        quotas[key] = k
    return quotas


def split_evenly(sizes: Mapping[str, int], k: int) -> dict[str, int]:
    """``k`` spread as evenly as possible over the strata (never more than a stratum holds): the
    remainder goes to the largest strata, and what a small stratum cannot take goes to the others."""
    alloc = {s: 0 for s in sizes}
    left = min(k, sum(sizes.values()))
    room = [s for s in sizes if sizes[s] > 0]
    while left > 0 and room:
        share, rest = divmod(left, len(room))
        for i, s in enumerate(sorted(room, key=lambda s: (-sizes[s], s))):
            give = min(share + (i < rest), sizes[s] - alloc[s])
            alloc[s] += give
            left -= give
        room = [s for s in room if alloc[s] < sizes[s]]
    return alloc


def _describe(strata: Mapping[str, Stratum]) -> str:
    return ", ".join(f"{st.key} ({st.pool} documents, {st.candidates} candidates)" for st in strata.values())


def _quotas(strata: dict[str, Stratum], k: int | None, quotas: Mapping[str, int] | None) -> list[str]:
    """Set each stratum's quota; returns notes for the report."""
    notes = []
    if quotas:
        unknown = [q for q in quotas if q not in strata]
        if unknown:
            raise StudioError(f"--quota names stratum {', '.join(unknown)} which the pool does not have; "
                              f"strata: {_describe(strata)}")
        total = sum(quotas.values())
        if k is not None and k != total:
            raise StudioError(f"--k {k} disagrees with the quotas, which add up to {total} "
                              "(leave --k out or make them agree)")
        short = [f"{q}={n} (has {strata[q].candidates} candidates)" for q, n in quotas.items()
                 if n > strata[q].candidates]
        if short:
            raise StudioError(f"--quota asks for more than a stratum has: {', '.join(short)}")
        for key, st in strata.items():
            st.quota = quotas.get(key, 0)
        left_out = [key for key, st in strata.items() if key not in quotas and st.candidates]
        if left_out:
            notes.append(f"no quota for stratum {', '.join(left_out)}: nothing picked there")
        return notes
    k = 10 if k is None else k
    for key, n in split_evenly({key: st.candidates for key, st in strata.items()}, k).items():
        strata[key].quota = n
    have = sum(st.candidates for st in strata.values())
    if have < k:
        notes.append(f"only {have} candidates for --k {k}: all of them picked")
    return notes


# ---------------------------------------------------------------------------------------- choose

def plan(docs: Sequence[Document], k: int | None = 10, stratify: Sequence[str] = (),
         quotas: Mapping[str, int] | None = None, skip_longer: int | None = None,
         known: set[str] | frozenset[str] = frozenset(),
         ) -> tuple[dict[str, Stratum], list[tuple[Document, str]], list[str]]:
    """The strata with their quotas, the candidates (document, stratum key) and notes; raises
    StudioError on bad options. Cheap: the CLI runs it before loading a model, with ``known`` empty."""
    if k is not None and k <= 0:
        raise StudioError("--k must be positive")
    if skip_longer is not None and skip_longer <= 0:
        raise StudioError("--skip-longer must be positive")
    if quotas and not stratify:
        raise StudioError("--quota needs --stratify (the fields whose values the quota names)")
    check_fields(docs, stratify)
    strata: dict[str, Stratum] = {}
    pool: list[tuple[Document, str]] = []
    for d in docs:
        key = stratum_of(d, stratify) if stratify else ""
        st = strata.setdefault(key, Stratum(key))
        st.pool += 1
        if d.id in known:
            st.excluded += 1
        elif skip_longer is not None and len(d.text) > skip_longer:
            st.skipped_longer += 1
        else:
            pool.append((d, key))
    strata = dict(sorted(strata.items()))
    notes = _quotas(strata, k, quotas)
    return strata, pool, notes


def choose(docs: list[Document], detector: Any, k: int | None = 10, lam: float = 0.7,
           studio: Any | None = None, project_id: int | None = None, store_dir: Path | None = None,
           progress: bool = True, stratify: Sequence[str] = (), quotas: Mapping[str, int] | None = None,
           skip_longer: int | None = None) -> Choice:
    """Pick the next batch: uncertainty (or the stated fallback) + MMR, within each stratum when
    ``stratify`` names fields. ``k`` None means the quotas' total (or 10 without quotas)."""
    if detector is None:
        raise StudioError("`studio next` needs a detector (--detector default|rules|<model dir>)")
    if not 0.0 <= lam <= 1.0:
        raise StudioError("--lambda must be in [0, 1]")
    stratify = list(stratify)
    from huashu.studio.push import detector_version
    from huashu.taxonomy import load_taxonomy

    known = known_doc_ids(studio, project_id, store_dir)
    strata, pool, notes = plan(docs, k, stratify, quotas, skip_longer, known)
    uses_model = isinstance(detector, UncertaintyDetector)
    if uses_model:
        what = "model uncertainty (token_uncertainty)"
    else:
        what = "rules device density + clickbait prior (NOT model uncertainty)"
        notes.append(f"detector {detector_version(detector)} has no token_uncertainty(): ranking by "
                     "rules device density per 1,000 chars with a clickbait-headline prior")
        log.warning(notes[-1])
    headline = {label.id for label in load_taxonomy().labels if label.span_level == "headline"}

    from rich.progress import Progress

    # one scoring pass over every document some stratum will pick from
    scored = [(d, key) for d, key in pool if strata[key].quota > 0]
    cands: dict[str, list[Candidate]] = {key: [] for key in strata}
    with Progress(transient=True, disable=not progress) as bar:
        job = bar.add_task("scoring the pool", total=len(scored))
        for i in range(0, len(scored), 32):
            batch = scored[i:i + 32]
            docs_b = [d for d, _ in batch]
            for (d, key), spans in zip(batch, detector.detect_batch(docs_b), strict=True):
                signal = (float(detector.token_uncertainty(d)) if uses_model
                          else fallback_signal(d, spans, headline))
                cands[key].append(Candidate(d, spans, signal, stratum=key if stratify else None))
            bar.advance(job, len(batch))
    picked = []
    for key, st in strata.items():
        group = cands[key]
        for i, score, sim, j in mmr([c.doc.text for c in group], [c.signal for c in group], st.quota, lam):
            c = group[i]
            c.score, c.nearest, c.nearest_id = score, sim, group[j].doc.id if j >= 0 else ""
            picked.append(c)
            st.picked += 1
    return Choice(picked, pool=len(docs), excluded=sum(st.excluded for st in strata.values()), signal=what,
                  uses_model_uncertainty=uses_model, model_version=detector_version(detector), lam=lam,
                  candidates=len(pool), notes=notes,
                  skipped_longer=sum(st.skipped_longer for st in strata.values()),
                  stratify=stratify, strata=list(strata.values()) if stratify else [])


def print_choice(choice: Choice, console: Any) -> None:
    from rich.table import Table

    for note in choice.notes:
        console.print(f"[yellow]note:[/] {note}")
    skipped = f", {choice.skipped_longer} longer than --skip-longer" if choice.skipped_longer else ""
    console.print(f"pool {choice.pool} documents, {choice.excluded} already labelled or in the project"
                  f"{skipped}, {choice.candidates} candidates; signal = {choice.signal}; "
                  f"MMR λ = {choice.lam}")
    if choice.strata:
        summary = Table(title=f"strata by {SEP.join(choice.stratify)}")
        for col in ("stratum", "pool", "labelled/pushed", "too long", "candidates", "quota", "picked"):
            summary.add_column(col, justify="left" if col == "stratum" else "right")
        for st in choice.strata:
            summary.add_row(st.key, *(str(n) for n in (st.pool, st.excluded, st.skipped_longer, st.candidates,
                                                        st.quota, st.picked)))
        console.print(summary)
    table = Table(title=f"next batch ({len(choice.picked)})")
    cols = ["#", "doc", *(["stratum"] if choice.strata else []), "title", "signal", "MMR score",
            "nearest chosen (cos)", "pre-ann."]
    for col in cols:
        table.add_column(col)
    for n, c in enumerate(choice.picked, 1):
        near = f"{c.nearest:.2f} {c.nearest_id}" if c.nearest_id else "— (first)"
        stratum = [c.stratum or ""] if choice.strata else []
        table.add_row(str(n), c.doc.id, *stratum, (c.doc.title or "")[:30], f"{c.signal:.3f}",
                      f"{c.score:.3f}", near, str(len(c.spans)))
    console.print(table)
