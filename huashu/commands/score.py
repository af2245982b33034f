"""`huashu score FILE...`: find devices in articles and show them (or print JSON lines)."""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from huashu.spans import Document, Span

log = logging.getLogger(__name__)


@dataclass
class Scored:
    doc: Document
    spans: list[Span]  # doc.text coordinates (for the terminal)
    result: dict[str, Any]  # the contract object (raw-input coordinates)


def _load(spec: str | None) -> tuple[Any, str | None]:
    """The detector and, when the default fell back to the rules, a sentence saying so."""
    from huashu.detector import DetectorError, load_detector
    from huashu.errors import UserError
    from huashu.paths import default_model_dir

    try:
        detector = load_detector(spec)
    except DetectorError as e:
        raise UserError(str(e)) from None
    note = None
    if spec in (None, "", "default") and detector.name == "rules":
        note = (f"no trained model at {default_model_dir()}: using the rules detector "
                f"(baseline, version {detector.version}); train one with `huashu train`")
    return detector, note


def _file_raw(path: Path, docs: list[Document]) -> str | None:
    """The raw input that text/html documents' offsets point into (None for csv/jsonl records,
    whose raw input is f"{title}\n{text}", the document text itself)."""
    if not docs or docs[0].meta.get("format") == "record":
        return None
    from huashu.ingest import read_text

    return read_text(path)


def score_files(files: list[Path], detector: Any, *, labels: list[str] | None = None,
                threshold: float | None = None, errors: list[str] | None = None,
                title: str | None = None):
    """Yield a :class:`Scored` per document of every file; bad files are reported in ``errors``.

    ``title``: the headline of the (one) .txt/.html file, as given by ``--title``."""
    from huashu.ingest import IngestError, ingest_file, iter_input_files
    from huashu.scoring import build_result

    for path in iter_input_files(files):
        try:
            docs = ingest_file(path, title=title, title_source="option")
            file_raw = _file_raw(path, docs)
        except IngestError as e:
            if errors is not None:
                errors.append(str(e))
            continue
        for doc in docs:
            t0 = time.perf_counter()
            spans = detector.detect(doc)
            ms = (time.perf_counter() - t0) * 1000.0
            result = build_result(detector, doc, spans, labels=labels, threshold=threshold,
                                  raw_text=doc.text if file_raw is None else file_raw,
                                  elapsed_ms=ms)
            keep = {s["label"] for s in result["spans"]}
            shown = [s for s in spans if s.label in keep and (threshold is None or s.score >= threshold)]
            yield Scored(doc, shown, result)


def score(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Article files (.txt .html .jsonl .csv) or folders.", show_default=False)] = None,
    detector_spec: Annotated[str | None, typer.Option(
        "--detector", "-d",
        help="'rules', a model directory, a Hugging Face Hub id (owner/name), or 'default' (the release "
             "model if present, else the rules).",
    )] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="One JSON object per document on stdout, nothing else.")] = False,
    labels: Annotated[list[str] | None, typer.Option(
        "--label", "-l", help="Only these labels (repeatable).")] = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", "-t", min=0.0, max=1.0, help="Drop spans scoring below this.")] = None,
    input_path: Annotated[Path | None, typer.Option(
        "--input", help="Batch mode: a corpus (.jsonl/.csv/folder) scored into --output, one JSON line "
                        "per document, with its source (huashu/batch.py; read by `huashu report`).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Batch mode: the JSONL file to write (appended to on resume).")] = None,
    title: Annotated[str | None, typer.Option(
        "--title", help="The headline of the one .txt/.html file scored (otherwise found in the file: "
                        "the HTML <h1>, or a short first line followed by a blank line).")] = None,
    engine: Annotated[str, typer.Option(
        "--engine", help="Batch mode: 'local' or 'ray' (Ray Data, RAY_ADDRESS for a cluster; needs the "
                         "ray extra: pip install 'huashu\\[ray]').")] = "local",
    resume: Annotated[bool, typer.Option(
        "--resume/--no-resume", help="Batch mode: skip ids already in --output.")] = True,
) -> None:
    """Find rhetorical devices in articles: highlighted in the terminal, or --json lines.

    Offsets in --json are code points into the raw input file; ``headline.source`` says how the
    headline was found. Bad files get one error line each (on stderr); the others are still scored
    and the exit code is 1.
    """
    from huashu.errors import UserError
    from huashu.scoring import ScoringError, check_options

    try:
        check_options(labels or None, threshold)
    except ScoringError as e:
        raise UserError(str(e)) from None
    if input_path is not None or output is not None:
        if title is not None:
            raise UserError("--title is for one article file, not batch mode (--input/--output)")
        _score_batch(input_path, output, detector_spec, engine, resume, labels or None, threshold, files)
        return
    if not files:
        raise UserError("give article files, or --input CORPUS --output SCORED.jsonl")
    if title is not None:
        _check_title(title, files)
    detector, note = _load(detector_spec)
    errors: list[str] = []
    results = []
    if json_out:  # stdout is for JSON only; load_detector already logged the fallback on stderr
        for item in score_files(files, detector, labels=labels or None, threshold=threshold, errors=errors,
                                title=title):
            sys.stdout.write(json.dumps(item.result, ensure_ascii=False) + "\n")
            sys.stdout.flush()
            results.append(item.result)
    else:
        from huashu import render

        console = render.make_console()
        if note:
            console.print(f"[yellow]Note:[/yellow] {note}")
        else:
            console.print(f"Detector: {detector.name} {detector.version}")
        console.print(render.legend())
        for item in score_files(files, detector, labels=labels or None, threshold=threshold, errors=errors,
                                title=title):
            console.print(render.article_panel(item.doc, item.spans, item.result))
            results.append(item.result)
        if results:
            console.print(render.articles_table(results))
            console.print(render.summary_table(results))
    for msg in errors:
        typer.secho(f"huashu: error: {msg}", err=True, fg="red")
    if errors:
        raise typer.Exit(1)
    if not results:
        raise UserError("no documents to score")


def _check_title(title: str, files: list[Path]) -> None:
    """``--title`` names the headline of exactly one .txt/.html file."""
    from huashu.errors import UserError
    from huashu.ingest import TEXT_SUFFIXES

    if not title.strip():
        raise UserError("--title is empty: give the headline, or leave --title out")
    if "\n" in title.strip():
        raise UserError("--title is one line (the headline)")
    if len(files) != 1:
        raise UserError(f"--title is the headline of one article file; got {len(files)} paths")
    if files[0].is_dir():
        raise UserError(f"--title is the headline of one article file, not a folder ({files[0]})")
    if files[0].suffix.lower() not in TEXT_SUFFIXES:
        raise UserError(f"--title applies to a .txt or .html file, not {files[0].name!r} "
                        "(.csv/.jsonl records carry their own titles)")


def _score_batch(input_path: Path | None, output: Path | None, detector_spec: str | None, engine: str,
                 resume: bool, labels: list[str] | None, threshold: float | None,
                 files: list[Path] | None) -> None:
    """`--input/--output`: huashu.batch.score_corpus (progress, resume, local or Ray engine)."""
    from huashu.batch import BatchError, score_corpus
    from huashu.detector import DetectorError
    from huashu.errors import UserError

    if input_path is None or output is None or files:
        raise UserError("batch mode takes --input CORPUS and --output SCORED.jsonl (and no FILES)")
    if engine not in ("local", "ray"):
        raise UserError(f"--engine {engine!r}: expected 'local' or 'ray'")
    try:
        stats = score_corpus(input_path, output, detector_spec, engine=engine, resume=resume,  # type: ignore[arg-type]
                             labels=labels, threshold=threshold)
    except (BatchError, DetectorError) as e:
        raise UserError(str(e)) from None
    log.info("%s: %d documents scored, %d already there (of %d)", stats.output, stats.scored, stats.skipped,
             stats.total)


def register(app: typer.Typer) -> None:
    app.command("score")(score)
