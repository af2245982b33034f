"""Batch scoring of a corpus: one JSON line per document (the score_document contract), with
progress and resume.

    score_corpus("corpus.jsonl", "scored.jsonl", "rules")                 # this machine
    score_corpus("corpus.csv", "scored.jsonl", "rules", engine="ray")     # Ray Data

Input: anything ``huashu.ingest.ingest_file`` reads (.jsonl records with id/title/text, .csv with
title/text columns, .txt, .html), or a folder of such files. Offsets in the output are code
points into each document's raw input (for records: ``f"{title}\\n{text}"``, the document text).

Every output line also carries ``"source"``, the outlet the document comes from (for
`huashu report`): the record's own ``source`` (the CSV column, the JSONL field) when it has one,
else the first folder under the input folder that holds the file, else the input file's name.

Resume: ids already in the output are skipped, so an interrupted run continues where it stopped;
a half-written last line (a crash mid-write) is cut off first, nothing else is ever rewritten.

``engine="ray"`` runs the same detector in Ray Data actors (``map_batches`` with a callable class
that loads the detector once per actor). Without ``RAY_ADDRESS`` Ray starts locally on this
machine; with ``RAY_ADDRESS=ray://<head>:10001`` (or ``auto`` on a cluster node) the same call
runs on a cluster, whose nodes need huashu installed (see the README). Ray is an optional extra
(``pip install 'huashu[ray]'``); without it ``engine="ray"`` fails at once with a BatchError
saying so.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from huashu.spans import Document

log = logging.getLogger(__name__)
Engine = Literal["local", "ray"]
RAY_MISSING = "--engine ray needs the ray extra: pip install 'huashu[ray]'"


class BatchError(RuntimeError):
    """A batch run that cannot proceed; the message says why."""


@dataclass(frozen=True)
class Item:
    doc: Document
    raw: str  # the text offsets point into
    source: str = ""  # the outlet (see the module docstring), written to the output line


@dataclass
class BatchStats:
    total: int
    skipped: int
    scored: int
    output: Path


def outlet(doc: Document, path: Path, root: Path) -> str:
    """Where ``doc`` (read from ``path``, found under the input ``root``) comes from: the record's
    source column/field, else the first folder below ``root`` holding the file, else its name."""
    column = doc.meta.get("source")  # CSV column
    if isinstance(column, str) and column.strip():
        return column.strip()
    if doc.meta.get("format") == "record" and doc.source and doc.source != str(path):
        return doc.source.strip()  # JSONL "source" field (ingest falls back to the path)
    if root.is_dir():
        parts = path.relative_to(root).parts
        if len(parts) > 1:
            return parts[0]
    return path.name


def read_items(input_path: Path | str) -> list[Item]:
    """Documents of the input file(s) with their raw text; bad files raise BatchError."""
    from huashu.ingest import IngestError, ingest_file, iter_input_files, read_text

    root = Path(input_path)
    files = list(iter_input_files([root]))
    if not files:
        raise BatchError(f"{input_path}: no input files (.jsonl, .csv, .txt, .html)")
    items: list[Item] = []
    seen: dict[str, Path] = {}
    for path in files:
        try:
            docs = ingest_file(path)
        except IngestError as e:
            raise BatchError(str(e)) from None
        raw_file = None if docs and docs[0].meta.get("format") == "record" else read_text(path)
        for doc in docs:
            if doc.id in seen:
                raise BatchError(f"duplicate document id {doc.id!r} in {path} (first in {seen[doc.id]}): "
                                 "ids must be unique for resume to be safe")
            seen[doc.id] = path
            items.append(Item(doc, doc.text if raw_file is None else raw_file, outlet(doc, path, root)))
    return items


def scored_ids(output_path: Path) -> set[str]:
    """Ids already in the output. A truncated last line (interrupted write) is removed; any other
    bad line is an error (the file is not ours to guess about)."""
    if not output_path.exists():
        return set()
    ids: set[str] = set()
    data = output_path.read_bytes()
    lines = data.split(b"\n")
    good_end = 0
    pos = 0
    for i, line in enumerate(lines):
        end = pos + len(line) + (1 if i < len(lines) - 1 else 0)
        if line.strip():
            try:
                rec = json.loads(line)
                ids.add(str(rec["id"]))
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
                if i == len(lines) - 1:  # the partial final line of an interrupted run
                    log.warning("%s: dropping a half-written last line (%d bytes)", output_path, len(line))
                    with output_path.open("r+b") as fh:
                        fh.truncate(good_end)
                    break
                raise BatchError(f"{output_path}: line {i + 1} is not a scored document; "
                                 "fix or move the file (it is never overwritten)") from None
        pos = end
        good_end = end
    else:
        if data and not data.endswith(b"\n"):  # complete last record without its newline
            with output_path.open("ab") as fh:
                fh.write(b"\n")
    return ids


def _score_chunk(detector: Any, items: Sequence[Item], labels: list[str] | None,
                 threshold: float | None) -> list[dict[str, Any]]:
    from huashu.scoring import score_documents

    results = score_documents(detector, [it.doc for it in items], labels=labels, threshold=threshold,
                              raw_offsets=True, raw_texts=[it.raw for it in items])
    for it, result in zip(items, results, strict=True):
        result["source"] = it.source
    return results


def _chunks(items: Sequence[Item], size: int) -> Iterator[Sequence[Item]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _run_local(todo: list[Item], detector_spec: str | None, labels: list[str] | None,
               threshold: float | None, batch_size: int) -> Iterator[dict[str, Any]]:
    from huashu.detector import load_detector

    detector = load_detector(detector_spec)
    for chunk in _chunks(todo, batch_size):
        yield from _score_chunk(detector, chunk, labels, threshold)


class RayScorer:
    """Ray Data callable class: loads the detector once per actor, scores a batch of documents."""

    def __init__(self, detector_spec: str | None, labels: list[str] | None, threshold: float | None) -> None:
        from huashu.detector import load_detector

        self.detector = load_detector(detector_spec)
        self.labels = labels
        self.threshold = threshold

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        items = [Item(Document.from_dict(json.loads(d)), raw, str(src))
                 for d, raw, src in zip(batch["doc"], batch["raw"], batch["source"], strict=True)]
        results = _score_chunk(self.detector, items, self.labels, self.threshold)
        return {"id": [r["id"] for r in results],
                "result": [json.dumps(r, ensure_ascii=False) for r in results]}


def require_ray() -> Any:
    """The ``ray`` module, with Ray Data; BatchError naming the extra when it is not installed."""
    try:
        import ray
        import ray.data  # ray without the [data] extra lacks it
    except ImportError as e:
        log.debug("import ray failed: %s", e)
        raise BatchError(RAY_MISSING) from None
    return ray


def _run_ray(todo: list[Item], detector_spec: str | None, labels: list[str] | None,
             threshold: float | None, batch_size: int, actors: int | None) -> Iterator[dict[str, Any]]:
    ray = require_ray()
    address = os.environ.get("RAY_ADDRESS")
    started = False
    if not ray.is_initialized():
        if address:
            log.info("connecting to the Ray cluster at %s", address)
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # output in input order, like the local engine
        ctx.enable_progress_bars = False  # tqdm in score_corpus shows progress
        ds = ray.data.from_items([{"id": it.doc.id, "doc": json.dumps(it.doc.to_dict(), ensure_ascii=False),
                                   "raw": it.raw, "source": it.source} for it in todo])
        n_actors = actors or max(1, min(4, int(ray.available_resources().get("CPU", 1))))
        scored = ds.map_batches(RayScorer, fn_constructor_kwargs={"detector_spec": detector_spec,
                                                                  "labels": labels, "threshold": threshold},
                                batch_size=batch_size, concurrency=n_actors, batch_format="numpy")
        for row in scored.iter_rows():
            yield json.loads(row["result"])
    finally:
        if started:
            ray.shutdown()


def score_corpus(input_path: Path | str, output_path: Path | str, detector_spec: str | None = None,
                 engine: Engine = "local", resume: bool = True, *, labels: list[str] | None = None,
                 threshold: float | None = None, batch_size: int = 16, actors: int | None = None,
                 progress: bool = True) -> BatchStats:
    """Score every document of ``input_path`` into ``output_path`` (JSON lines, input order).

    With ``resume`` (default) ids already in the output are skipped and new lines appended;
    without it the output is started afresh.
    """
    from tqdm import tqdm

    from huashu.scoring import check_options

    if engine not in ("local", "ray"):
        raise BatchError(f"unknown engine {engine!r} (expected 'local' or 'ray')")
    if batch_size < 1:
        raise BatchError("batch size must be ≥ 1")
    if engine == "ray":
        require_ray()  # before anything is read or written
    check_options(labels, threshold)
    input_path, output_path = Path(input_path), Path(output_path)
    if input_path.resolve() == output_path.resolve():
        raise BatchError("--output must not be the input file")
    items = read_items(input_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    done = scored_ids(output_path) if resume else set()
    if not resume and output_path.exists():
        log.info("%s exists: starting afresh (--no-resume)", output_path)
        output_path.unlink()
    todo = [it for it in items if it.doc.id not in done]
    skipped = len(items) - len(todo)
    if skipped:
        log.info("resume: %d of %d documents already in %s", skipped, len(items), output_path)
    if not todo:
        return BatchStats(len(items), skipped, 0, output_path)
    results = (_run_ray(todo, detector_spec, labels, threshold, batch_size, actors) if engine == "ray"
               else _run_local(todo, detector_spec, labels, threshold, batch_size))
    n = 0
    with output_path.open("a", encoding="utf-8") as out, \
            tqdm(total=len(todo), unit="doc", desc=f"score ({engine})", disable=not progress or None) as bar:
        for result in results:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
            out.flush()
            n += 1
            bar.update(1)
    return BatchStats(len(items), skipped, n, output_path)
