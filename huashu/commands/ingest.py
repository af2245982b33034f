"""`huashu ingest`: raw article files → cleaned documents (JSONL)."""

from __future__ import annotations

import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger("huashu.ingest")


def ingest_command(
    paths: Annotated[list[Path], typer.Argument(
        help="Files (.txt, .html, .htm, .jsonl, .csv with label,title,text,source) or folders "
             "(searched recursively for those types).", show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the documents here as JSONL (default: stdout).",
        dir_okay=False)] = None,
) -> None:
    """Strip page chrome and write one JSON document per article: {id, title, text, source, meta,
    offsets, sha256}. `offsets` maps the cleaned text back to the raw input, so spans found later
    can be reported in raw-input code points. Bad files are reported one line each and skipped;
    the exit code is 1 if any file failed."""
    from tqdm import tqdm

    from huashu.errors import UserError
    from huashu.ingest import IngestError, dump_jsonl, ingest_paths, iter_input_files

    files = list(iter_input_files(paths))
    if output is not None:  # never read our own output back in (e.g. `ingest data/ -o data/docs.jsonl`)
        files = [f for f in files if f.resolve() != output.resolve()]
    if not files:
        raise UserError("no input files (looked for .txt, .html, .htm, .jsonl, .csv)")
    n_docs = 0
    errors = 0
    ids: Counter[str] = Counter()
    out_fh = sys.stdout
    tmp: Path | None = None
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(output.name + ".tmp")
        out_fh = tmp.open("w", encoding="utf-8")
    try:
        with tqdm(total=len(files), unit="file", desc="ingest", disable=None, file=sys.stderr) as bar:
            for path, result in ingest_paths(files):
                bar.update(1)
                if isinstance(result, IngestError):
                    errors += 1
                    log.error("%s", result)
                    continue
                for d in result:
                    ids[d.id] += 1
                    if ids[d.id] == 2:
                        log.warning("duplicate document id %r (again in %s)", d.id, path)
                n_docs += dump_jsonl(result, out_fh)
                bar.set_postfix(docs=n_docs, errors=errors)
    finally:
        if tmp is not None:
            out_fh.close()
    if tmp is not None and output is not None:
        tmp.replace(output)
    where = f" → {output}" if output is not None else ""
    log.info("ingest: %d files, %d documents, %d errors%s", len(files), n_docs, errors, where)
    if errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
