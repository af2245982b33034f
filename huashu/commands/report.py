"""`huashu report SCORED.jsonl -o report.html`: corpus statistics of batch-scored output."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def report(
    inputs: Annotated[list[Path], typer.Argument(
        help="Scored JSONL file(s) from `huashu score --input CORPUS --output SCORED.jsonl`.",
        show_default=False)],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="The file to write: report.html (or .md with --markdown; "
                               "without -o the markdown goes to stdout).")] = None,
    markdown: Annotated[bool, typer.Option(
        "--markdown", help="A markdown text version instead of the HTML page.")] = False,
    top: Annotated[int, typer.Option(
        "--top", min=0, help="How many of the most device-dense articles to list.")] = 10,
) -> None:
    """Corpus report: devices per 1,000 characters by source and by label, headline clickbait rate
    by source, the article score distribution and the most device-dense articles.

    The HTML page is self-contained (matplotlib charts embedded as SVG): it opens offline.
    It needs matplotlib (the 'report' extra of huashu); --markdown does not.
    """
    from huashu.errors import UserError
    from huashu.report import ReportError, write_report

    if output is None and not markdown:
        raise UserError("give the HTML file to write with -o report.html (or --markdown for text on stdout)")
    try:
        rep, text = write_report(inputs, output, markdown=markdown, top=top)
    except ReportError as e:
        raise UserError(str(e)) from None
    if output is None:
        sys.stdout.write(text)
        return
    t = rep.total
    log.info("%s: %d articles from %d sources, %.2f devices per 1,000 characters", output, t.articles,
             len(rep.sources), t.density)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
