"""Push documents to the LS project as tasks with pre-annotations.

Task data (what the labelling page shows and what ``pull`` maps back)::

    text     the document text (or one part of it), spans index it in code points
    title    headline, for display
    doc_id, corpus, source, sha256     the standoff store's keys (sha256 of the WHOLE document)
    part, parts, offset                part i of n; ``offset`` = where ``text`` starts in the document

A document already in the project (same doc_id and sha256) is never imported again. A document
longer than ``max_chars`` is split at paragraph boundaries (never inside a pre-annotated span) into
linked tasks; ``pull`` adds ``offset`` back, so stored spans always index the whole document.
Pre-annotations are LS predictions: one per task, ``model_version`` = detector name and version,
each region with its own ``score``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huashu.spans import Document, Span
from huashu.studio import StudioError
from huashu.studio.project import config_labels, config_names
from huashu.studio.server import Studio, api_error

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARS = 20000
IMPORT_BATCH = 100
_SENTENCE_END = re.compile(r"[。！？!?；;…]+[”’」』）)]*")


# ---------------------------------------------------------------------------------------- input

def _is_ingested_jsonl(path: Path) -> bool:
    """True for JSONL written by `huashu ingest` (Document.to_dict lines), False for raw records."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(rec, dict) and "offsets" in rec and "meta" in rec
    return False


def load_documents(paths: Sequence[Path | str]) -> list[Document]:
    """Documents from ingested JSONL (`huashu ingest` output) or raw files/directories (ingested
    here). Every file is read before anything happens: one bad file stops the whole push."""
    from huashu.ingest import IngestError, ingest_file, iter_input_files, read_jsonl

    docs: list[Document] = []
    errors: list[str] = []
    files = list(iter_input_files([Path(p) for p in paths]))
    if not files:
        raise StudioError("no input documents: " + ", ".join(str(p) for p in paths))
    for f in files:
        if not f.exists():
            errors.append(f"{f}: no such file")
            continue
        try:
            if f.suffix.lower() == ".jsonl" and _is_ingested_jsonl(f):
                docs.extend(read_jsonl(f))
            else:
                docs.extend(ingest_file(f))
        except IngestError as e:
            errors.append(str(e))
    if errors:
        raise StudioError("cannot read the input, nothing pushed:\n  " + "\n  ".join(errors))
    seen: dict[str, str] = {}
    for d in docs:
        if d.id in seen and seen[d.id] != d.sha256:
            raise StudioError(f"two different documents share the id {d.id!r}; nothing pushed")
        seen[d.id] = d.sha256
    return docs


def doc_corpus(doc: Document, default: str | None = None) -> tuple[str, str]:
    """(corpus, source) as the annotation store names them."""
    corpus = default or doc.meta.get("corpus") or "other"
    source = doc.meta.get("corpus_source") or doc.source or ""
    return str(corpus), str(source)


# ---------------------------------------------------------------------------------------- split

def split_points(text: str, max_chars: int, protected: Iterable[Span] = ()) -> list[tuple[int, int]]:
    """[start, end) parts covering ``text`` contiguously, each ≤ ``max_chars`` where possible:
    cut after a newline (paragraph boundary), else after a sentence end, else hard; never inside a
    ``protected`` span unless a single span is longer than ``max_chars``."""
    if max_chars <= 0:
        raise StudioError("--max-chars must be positive")
    n = len(text)
    if n <= max_chars:
        return [(0, n)]
    inside = [False] * (n + 1)
    for s in protected:
        for i in range(s.start + 1, min(s.end, n)):
            inside[i] = True
    paragraph = [i + 1 for i, ch in enumerate(text) if ch == "\n" and i + 1 < n and not inside[i + 1]]
    sentence = sorted({m.end() for m in _SENTENCE_END.finditer(text) if m.end() < n and not inside[m.end()]})
    parts = []
    start = 0
    while n - start > max_chars:
        limit = start + max_chars
        cut = _last_in(paragraph, start, limit) or _last_in(sentence, start, limit)
        if cut is None:
            cut = next((c for c in range(limit, start, -1) if not inside[c]), limit)
            log.warning("no paragraph or sentence boundary in [%d, %d): hard cut at %d", start, limit, cut)
        parts.append((start, cut))
        start = cut
    parts.append((start, n))
    return parts


def _last_in(cuts: list[int], lo: int, hi: int) -> int | None:
    best = None
    for c in cuts:
        if c > hi:
            break
        if c > lo:
            best = c
    return best


# ---------------------------------------------------------------------------------------- tasks

@dataclass
class PushResult:
    project_id: int
    docs: int = 0
    created: list[int] = field(default_factory=list)  # task ids
    skipped: list[str] = field(default_factory=list)  # doc ids already in the project
    changed: list[str] = field(default_factory=list)  # doc ids in the project with another text
    predictions: int = 0
    model_version: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)


def existing_tasks(studio: Studio, project_id: int) -> dict[tuple[str, str], list[int]]:
    """(doc_id, sha256) → task ids already in the project."""
    out: dict[tuple[str, str], list[int]] = {}
    try:
        for t in studio.ls.tasks.list(project=project_id, fields="all"):
            data = t.data or {}
            if data.get("doc_id"):
                out.setdefault((str(data["doc_id"]), str(data.get("sha256", ""))), []).append(int(t.id))
    except Exception as e:
        raise api_error(e, f"listing the tasks of project {project_id}") from None
    return out


def prediction_items(spans: Iterable[Span], text: str, from_name: str, to_name: str,
                     offset: int = 0) -> list[dict[str, Any]]:
    items = []
    for i, s in enumerate(sorted(spans)):
        start, end = s.start - offset, s.end - offset
        items.append({
            "id": f"p{offset}_{i}", "from_name": from_name, "to_name": to_name, "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [s.label]},
            "score": round(float(s.score), 4),
        })
    return items


def build_tasks(doc: Document, spans: list[Span] | None, model_version: str, corpus: str, source: str,
                max_chars: int, from_name: str, to_name: str) -> list[dict[str, Any]]:
    """The LS import records (data + predictions) of one document."""
    parts = split_points(doc.text, max_chars, spans or [])
    tasks = []
    for i, (start, end) in enumerate(parts):
        text = doc.text[start:end]
        # an untitled document still gets a visible, identifying title in the labelling page
        data = {"text": text, "title": doc.title or f"（无标题）{doc.id}", "doc_id": doc.id,
                "sha256": doc.sha256, "corpus": corpus, "source": source,
                "origin": f"{corpus} · {source}" + (f" · {i + 1}/{len(parts)}" if len(parts) > 1 else ""),
                "part": i,
                "parts": len(parts), "offset": start}
        task: dict[str, Any] = {"data": data}
        if spans is not None:
            inside = [s for s in spans if start <= s.start and s.end <= end]
            crossing = [s for s in spans if s.start < end and s.end > start and s not in inside]
            for s in crossing:
                log.warning("%s: pre-annotation [%d,%d) %s crosses a part boundary: not imported",
                            doc.id, s.start, s.end, s.label)
            result = prediction_items(inside, text, from_name, to_name, offset=start)
            score = max((s.score for s in inside), default=0.0)
            task["predictions"] = [{"model_version": model_version, "score": round(float(score), 4),
                                    "result": result}]
        tasks.append(task)
    return tasks


def detector_version(detector: Any) -> str:
    return f"{getattr(detector, 'name', 'detector')}-{getattr(detector, 'version', '0')}"


def push_documents(studio: Studio, project_id: int, docs: list[Document], detector: Any | None = None,
                   max_chars: int = DEFAULT_MAX_CHARS, corpus: str | None = None,
                   spans: dict[str, list[Span]] | None = None, model_version: str | None = None,
                   progress: bool = True) -> PushResult:
    """Import ``docs`` as tasks. Pre-annotations come from ``spans`` (doc id → spans) when given,
    else from ``detector`` when given."""
    try:
        project = studio.ls.projects.get(id=project_id)
    except Exception as e:
        raise api_error(e, f"reading project {project_id}") from None
    from_name, to_name = config_names(project.label_config)
    allowed = config_labels(project.label_config)
    result = PushResult(project_id, docs=len(docs))
    existing = existing_tasks(studio, project_id)
    known_ids = {doc_id for doc_id, _ in existing}
    todo = []
    for d in docs:
        if (d.id, d.sha256) in existing:
            result.skipped.append(d.id)
        else:
            if d.id in known_ids:
                result.changed.append(d.id)
                log.warning("%s is in the project with a different text (sha256): pushed as a new task", d.id)
            todo.append(d)
    if not todo:
        return result

    if spans is None and detector is not None:
        model_version = model_version or detector_version(detector)
        spans = {}
        for batch_start in range(0, len(todo), 32):
            batch = todo[batch_start:batch_start + 32]
            for d, found in zip(batch, detector.detect_batch(batch), strict=True):
                spans[d.id] = found
    elif spans is not None:
        model_version = model_version or (detector_version(detector) if detector is not None else "external")
    result.model_version = model_version or ""

    records: list[dict[str, Any]] = []
    for d in todo:
        c, source = doc_corpus(d, corpus)
        doc_spans = None
        if spans is not None:
            doc_spans = [s for s in spans.get(d.id, []) if s.label in allowed]
            dropped = len(spans.get(d.id, [])) - len(doc_spans)
            if dropped:
                log.warning("%s: %d pre-annotation(s) with labels the project does not have were dropped",
                            d.id, dropped)
        tasks = build_tasks(d, doc_spans, model_version or "", c, source, max_chars, from_name, to_name)
        records.extend(tasks)
        result.predictions += sum(len(t.get("predictions", [{}])[0].get("result", [])) for t in tasks
                                  if t.get("predictions"))
        result.rows.append({"doc_id": d.id, "chars": len(d.text), "tasks": len(tasks),
                            "spans": len(doc_spans or [])})

    from rich.progress import Progress

    with Progress(transient=True, disable=not progress) as bar:
        job = bar.add_task("importing tasks", total=len(records))
        for i in range(0, len(records), IMPORT_BATCH):
            chunk = records[i:i + IMPORT_BATCH]
            try:
                resp = studio.ls.projects.import_tasks(id=project_id, request=chunk, return_task_ids=True)
            except Exception as e:
                raise api_error(e, f"importing tasks into project {project_id} "
                                f"({len(result.created)} of {len(records)} were imported)") from None
            result.created.extend(int(t) for t in (resp.task_ids or []))
            bar.advance(job, len(chunk))
    return result
