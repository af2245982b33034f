"""Terminal rendering (rich): articles with their devices highlighted, and summary tables.

Highlighting works on the cleaned document text with spans in ``doc.text`` coordinates. Overlapping
spans are shown by splitting the text at every span boundary: each piece takes the background
colour of the innermost (shortest) span covering it and is underlined when more than one label
covers it; after each span a small tag names its label (Chinese name), in the label's colour.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from huashu.spans import Document, Span
from huashu.taxonomy import Taxonomy, load_taxonomy


def _bg(colour: str) -> str:
    return f"#000000 on {colour}"


def highlight(doc: Document, spans: Sequence[Span], taxonomy: Taxonomy | None = None,
              tags: bool = True) -> Text:
    """``doc.text`` as rich Text with every span highlighted in its label's colour."""
    taxonomy = taxonomy or load_taxonomy()
    text = doc.text
    spans = sorted(s for s in spans if s.label in taxonomy)
    cuts = sorted({0, len(text), *(s.start for s in spans), *(s.end for s in spans)})
    ends: dict[int, list[Span]] = {}
    for s in spans:
        ends.setdefault(s.end, []).append(s)
    out = Text()
    for a, b in itertools.pairwise(cuts):
        covering = [s for s in spans if s.start <= a and b <= s.end]
        if covering:
            inner = min(covering, key=lambda s: (s.end - s.start, -s.score))
            style = _bg(taxonomy[inner.label].colour)
            if len({s.label for s in covering}) > 1:
                style += " underline"
            out.append(text[a:b], style=style)
        else:
            out.append(text[a:b])
        if tags:
            for s in sorted(ends.get(b, ()), key=lambda s: s.start, reverse=True):
                label = taxonomy[s.label]
                out.append(f"⟨{label.zh}⟩", style=f"bold {label.colour}")
    return out


def legend(taxonomy: Taxonomy | None = None) -> Text:
    taxonomy = taxonomy or load_taxonomy()
    out = Text()
    for i, label in enumerate(taxonomy.labels):
        if i:
            out.append("  ")
        out.append(f" {label.zh} ", style=_bg(label.colour))
        out.append(f" {label.id}", style="dim")
    return out


def article_panel(doc: Document, spans: Sequence[Span], result: dict[str, Any],
                  taxonomy: Taxonomy | None = None) -> Panel:
    """One article: highlighted text, then its score line."""
    taxonomy = taxonomy or load_taxonomy()
    body = highlight(doc, spans, taxonomy)
    footer = Text()
    footer.append(f"article score {result['article_score']:.2f}", style="bold")
    footer.append(f"  ·  coverage {result['coverage']:.1%}  ·  {result['explanation']}")
    head = result.get("headline")
    if head and head.get("clickbait_probability") is not None:
        footer.append(f"  ·  headline clickbait p={head['clickbait_probability']:.2f}")
        if head.get("source") == "first_line":
            footer.append(" (headline = the file's first line; --title to give another)", style="dim")
    title = f"[bold]{doc.id}[/bold]  {len(doc.text):,} chars · {len(result['spans'])} devices"
    return Panel(Group(body, Text(), footer), title=title, title_align="left", expand=True)


def summary_table(results: Sequence[dict[str, Any]], taxonomy: Taxonomy | None = None) -> Table:
    """Per-label totals across all scored articles."""
    taxonomy = taxonomy or load_taxonomy()
    chars = sum(int(r.get("chars", 0)) for r in results)
    table = Table(title=f"Devices in {len(results)} article(s), {chars:,} chars", title_justify="left")
    table.add_column("label")
    table.add_column("中文")
    table.add_column("count", justify="right")
    table.add_column("per 1,000 chars", justify="right")
    table.add_column("articles", justify="right")
    total = 0
    for label in taxonomy.labels:
        counts = [r["summary"].get(label.id, {}).get("count", 0) for r in results]
        n = sum(counts)
        total += n
        per_k = n * 1000.0 / chars if chars else 0.0
        table.add_row(Text(label.id, style=_bg(label.colour)), label.zh, str(n), f"{per_k:.2f}",
                      str(sum(1 for c in counts if c)))
    per_k = total * 1000.0 / chars if chars else 0.0
    table.add_section()
    table.add_row("total", "合计", str(total), f"{per_k:.2f}", str(sum(1 for r in results if r["spans"])))
    return table


def articles_table(results: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="Articles", title_justify="left")
    table.add_column("id")
    table.add_column("chars", justify="right")
    table.add_column("devices", justify="right")
    table.add_column("article score", justify="right")
    table.add_column("headline clickbait p", justify="right")
    for r in results:
        head = r.get("headline") or {}
        p = head.get("clickbait_probability")
        table.add_row(str(r["id"]), f"{r.get('chars', 0):,}", str(len(r["spans"])),
                      f"{r['article_score']:.2f}", "—" if p is None else f"{p:.2f}")
    return table


def make_console(**kwargs: Any) -> Console:
    return Console(highlight=False, soft_wrap=False, **kwargs)
