"""Corpus report: scored JSONL (``huashu score --input … --output …``) → statistics → one
self-contained HTML page or a markdown text (``huashu report``).

What an editor looks at first (media-level statistics):

- devices per 1,000 characters by source/outlet (stacked by label) and by label;
- the headline clickbait rate by source (share of headlines with clickbait probability ≥ 0.5);
- the distribution of article scores;
- the most device-dense articles with their top spans.

Densities are pooled: ``devices * 1000 / characters`` summed over the articles of a group (a
source, a label, the corpus), with the characters of the scored text (``chars`` of each line).
Ranking the most device-dense articles measures short articles as if they had
:data:`huashu.scoring.MIN_CHARS` characters (as the article score does), so a one-line text with
one device does not top the list; the table shows each article's real density.

Charts are drawn with matplotlib (``pip install 'huashu[report]'``) as SVG and embedded as
``data:`` URIs, so the page fetches nothing; Chinese glyphs in the charts are drawn with a CJK font
found by matplotlib's font manager (Noto Sans CJK from ``make browser``) and stored as outlines,
so the page does not need the font to display them. All article text on the page is escaped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import statistics
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from huashu.paths import write_text_atomic
from huashu.scoring import MIN_CHARS
from huashu.taxonomy import Taxonomy, load_taxonomy

log = logging.getLogger(__name__)

CLICKBAIT_THRESHOLD = 0.5  # a headline counts as clickbait at this probability or above
TOP_SPANS = 5  # spans shown per top article
MAX_CHART_SOURCES = 25  # sources in a chart (the largest by article count); tables list them all
SCORE_BINS = 20  # article score histogram: bins of 0.05
UNKNOWN_COLOUR = "#d0d0d0"
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Noto Sans CJK KR",
                "Noto Serif CJK SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
                "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN", "SimHei",
                "Microsoft YaHei", "PingFang SC", "Heiti SC")
REPORT_EXTRA = "pip install 'huashu[report]'"


class ReportError(ValueError):
    """Input that cannot be reported on; the message (one line) says which file and why."""


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Article:
    """One scored document (one line of the batch output)."""

    id: str
    source: str
    chars: int
    spans: tuple[dict[str, Any], ...]
    article_score: float | None
    headline: str | None
    clickbait_probability: float | None  # None: no headline, or the detector gave none
    labels: tuple[str, ...]  # the labels this document was scored for (its summary keys)
    model: str

    @property
    def devices(self) -> int:
        return len(self.spans)

    @property
    def density(self) -> float:
        """Devices per 1,000 characters."""
        return self.devices * 1000.0 / self.chars if self.chars else 0.0

    @property
    def ranking_density(self) -> float:
        """Density with short texts counted as MIN_CHARS long (for ranking only)."""
        return self.devices * 1000.0 / max(self.chars, MIN_CHARS)

    @property
    def is_clickbait(self) -> bool:
        return self.headline is not None and (self.clickbait_probability or 0.0) >= CLICKBAIT_THRESHOLD

    def top_spans(self, n: int = TOP_SPANS) -> list[dict[str, Any]]:
        """The ``n`` highest-scoring spans (distinct label and text), in reading order."""
        seen: set[tuple[str, str]] = set()
        best: list[dict[str, Any]] = []
        for s in sorted(self.spans, key=lambda s: (-_score(s), _start(s))):
            key = (str(s["label"]), str(s.get("text", "")))
            if key in seen:
                continue
            seen.add(key)
            best.append(s)
            if len(best) == n:
                break
        return sorted(best, key=_start)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def _score(span: dict[str, Any]) -> float:
    return _number(span.get("score")) or 0.0


def _start(span: dict[str, Any]) -> float:
    return _number(span.get("start")) or 0.0


def parse_line(rec: Any, fallback_source: str) -> Article:
    """An :class:`Article` from one decoded JSON line; ValueError says what is wrong."""
    if not isinstance(rec, dict):
        raise ValueError("expected a JSON object")
    missing = [k for k in ("id", "spans", "chars") if k not in rec]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    chars = rec["chars"]
    if isinstance(chars, bool) or not isinstance(chars, int) or chars < 0:
        raise ValueError(f"\"chars\" must be a non-negative integer, not {chars!r}")
    spans = rec["spans"]
    if not isinstance(spans, list) or not all(isinstance(s, dict) and isinstance(s.get("label"), str)
                                              for s in spans):
        raise ValueError("\"spans\" must be a list of objects with a \"label\"")
    headline = rec.get("headline")
    title = p_click = None
    if isinstance(headline, dict) and isinstance(headline.get("text"), str):
        title = headline["text"]
        p_click = _number(headline.get("clickbait_probability"))
    summary = rec.get("summary")
    labels = tuple(summary) if isinstance(summary, dict) else tuple(dict.fromkeys(s["label"] for s in spans))
    model = rec.get("model")
    model_name = (f"{model.get('id', '?')} {model.get('version', '')}".strip() if isinstance(model, dict)
                  else "")
    source = rec.get("source")
    source = source.strip() if isinstance(source, str) and source.strip() else fallback_source
    return Article(id=str(rec["id"]), source=source, chars=chars, spans=tuple(spans),
                   article_score=_number(rec.get("article_score")), headline=title,
                   clickbait_probability=p_click, labels=labels, model=model_name)


def read_scored(paths: Iterable[Path | str]) -> list[Article]:
    """Articles of one or more scored JSONL files. A line without ``"source"`` (output of an older
    huashu) is attributed to its file's name. Raises :class:`ReportError`."""
    articles: list[Article] = []
    seen: dict[tuple[str, str], Path] = {}
    duplicates = 0
    paths = [Path(p) for p in paths]
    if not paths:
        raise ReportError("no scored files given")
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ReportError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ReportError(f"{path}: is a directory (give the scored .jsonl file)") from None
        except OSError as e:
            raise ReportError(f"{path}: cannot read: {e.strerror or e}") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ReportError(f"{path}: not UTF-8 text (bad byte at {e.start}); expected JSON lines "
                              "from `huashu score --input … --output …`") from None
        n_lines = no_source = 0
        all_lines = text.splitlines()
        for lineno, line in enumerate(all_lines, 1):
            if not line.strip():
                continue
            n_lines += 1
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                if lineno == len(all_lines) and n_lines > 1 and not text.endswith("\n"):
                    log.warning("%s: line %d is half-written (a batch run still writing, or interrupted): "
                                "left out", path, lineno)
                    continue
                raise ReportError(f"{path}: line {lineno}: not JSON ({e.msg}); expected JSON lines from "
                                  "`huashu score --input … --output …`") from None
            try:
                art = parse_line(rec, path.name)
            except ValueError as e:
                raise ReportError(f"{path}: line {lineno}: not a scored document ({e})") from None
            if not (isinstance(rec, dict) and rec.get("source")):
                no_source += 1
            key = (art.source, art.id)
            if key in seen:
                duplicates += 1
                continue
            seen[key] = path
            articles.append(art)
        if not n_lines:
            raise ReportError(f"{path}: empty file (no scored documents)")
        if no_source:
            log.info("%s: %d lines without a \"source\" field are attributed to %r", path, no_source,
                     path.name)
    if duplicates:
        log.warning("skipped %d duplicate documents (same source and id seen before)", duplicates)
    if not articles:
        raise ReportError("no scored documents")
    return articles


# --------------------------------------------------------------------------- aggregates


@dataclass
class Group:
    """Totals of a set of articles (a source, or the whole corpus)."""

    name: str
    articles: int = 0
    chars: int = 0
    devices: int = 0
    by_label: Counter[str] = field(default_factory=Counter)
    headlines: int = 0
    clickbait: int = 0
    scores: list[float] = field(default_factory=list)

    def add(self, art: Article) -> None:
        self.articles += 1
        self.chars += art.chars
        self.devices += art.devices
        self.by_label.update(str(s["label"]) for s in art.spans)
        if art.headline is not None:
            self.headlines += 1
            self.clickbait += art.is_clickbait
        if art.article_score is not None:
            self.scores.append(art.article_score)

    @property
    def density(self) -> float:
        return self.devices * 1000.0 / self.chars if self.chars else 0.0

    def label_density(self, label: str) -> float:
        return self.by_label[label] * 1000.0 / self.chars if self.chars else 0.0

    @property
    def clickbait_rate(self) -> float | None:
        return self.clickbait / self.headlines if self.headlines else None

    @property
    def mean_score(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None


@dataclass(frozen=True)
class LabelInfo:
    id: str
    zh: str
    en: str
    colour: str


@dataclass
class CorpusReport:
    total: Group
    sources: list[Group]  # densest first
    labels: list[LabelInfo]  # taxonomy order (labels not in the taxonomy last)
    label_articles: Counter[str]  # articles with at least one span of the label
    top: list[Article]
    score_bins: list[int]  # SCORE_BINS counts of article scores over [0, 1]
    models: list[str]
    inputs: list[str]
    created: str

    def label(self, label_id: str) -> LabelInfo:
        for lab in self.labels:
            if lab.id == label_id:
                return lab
        return LabelInfo(label_id, label_id, label_id, UNKNOWN_COLOUR)


def score_histogram(scores: Sequence[float], bins: int = SCORE_BINS) -> list[int]:
    """Counts of scores in ``bins`` equal bins over [0, 1] (1.0 falls in the last bin)."""
    counts = [0] * bins
    for s in scores:
        counts[min(bins - 1, max(0, int(s * bins)))] += 1
    return counts


def aggregate(articles: Sequence[Article], *, top: int = 10, taxonomy: Taxonomy | None = None,
              inputs: Sequence[str] = ()) -> CorpusReport:
    """The report's statistics over ``articles``."""
    taxonomy = taxonomy or load_taxonomy()
    if not articles:
        raise ReportError("no scored documents")
    total = Group("all")
    groups: dict[str, Group] = {}
    label_articles: Counter[str] = Counter()
    for art in articles:
        total.add(art)
        groups.setdefault(art.source, Group(art.source)).add(art)
        label_articles.update({str(s["label"]) for s in art.spans})

    present = {lab for art in articles for lab in art.labels} | set(total.by_label)
    unknown = sorted(present - set(taxonomy.ids))
    if unknown:
        log.warning("labels not in the taxonomy (shown by id, in grey): %s", ", ".join(unknown))
    labels = [LabelInfo(lab.id, lab.zh, lab.en, lab.colour) for lab in taxonomy.labels if lab.id in present]
    labels += [LabelInfo(u, u, u, UNKNOWN_COLOUR) for u in unknown]
    label_sets = {art.labels for art in articles}
    if len(label_sets) > 1:
        log.warning("the documents were scored for different label sets (--label): per-label densities "
                    "divide by all characters")

    sources = sorted(groups.values(), key=lambda g: (-g.density, -g.articles, g.name))
    ranked = sorted((a for a in articles if a.devices), key=lambda a: (-a.ranking_density,
                                                                      -(a.article_score or 0.0), a.id))
    models = sorted({a.model for a in articles if a.model})
    if len(models) > 1:
        log.warning("the documents were scored by different models: %s", "; ".join(models))
    return CorpusReport(total=total, sources=sources, labels=labels, label_articles=label_articles,
                        top=ranked[:max(0, top)], score_bins=score_histogram(total.scores), models=models,
                        inputs=list(inputs), created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


# --------------------------------------------------------------------------- formatting helpers


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _bin_label(i: int, bins: int = SCORE_BINS) -> str:
    return f"{i / bins:.2f}–{(i + 1) / bins:.2f}"


def chart_sources(report: CorpusReport) -> list[Group]:
    """The sources shown in the charts: the MAX_CHART_SOURCES largest, densest first."""
    if len(report.sources) <= MAX_CHART_SOURCES:
        return list(report.sources)
    largest = sorted(report.sources, key=lambda g: (-g.articles, g.name))[:MAX_CHART_SOURCES]
    keep = {g.name for g in largest}
    return [g for g in report.sources if g.name in keep]


# --------------------------------------------------------------------------- markdown


def _md(text: str) -> str:
    """A markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def render_markdown(report: CorpusReport) -> str:
    t = report.total
    out = ["# 话术 huashu corpus report", ""]
    out.append(f"{t.articles:,} articles from {len(report.sources):,} sources, {t.chars:,} characters, "
               f"{t.devices:,} devices: **{t.density:.2f} devices per 1,000 characters**; headline clickbait "
               f"rate {_pct(t.clickbait_rate)} ({t.clickbait:,} of {t.headlines:,} headlines); mean article "
               f"score {_num(t.mean_score)}.")
    out.append("")
    out.append(f"Model: {', '.join(report.models) or 'unknown'}. Input: {', '.join(report.inputs)}. "
               f"Made {report.created}.")
    out += ["", "## Devices per 1,000 characters by source", "",
            "| source | articles | characters | devices | per 1,000 chars | headlines | clickbait rate "
            "| mean article score |",
            "|---|--:|--:|--:|--:|--:|--:|--:|"]
    for g in report.sources:
        out.append(f"| {_md(g.name)} | {g.articles:,} | {g.chars:,} | {g.devices:,} | {g.density:.2f} | "
                   f"{g.headlines:,} | {_pct(g.clickbait_rate)} | {_num(g.mean_score)} |")
    out += ["", "## Devices per 1,000 characters by label", "",
            "| label | 中文 | devices | per 1,000 chars | articles with it |", "|---|---|--:|--:|--:|"]
    for lab in report.labels:
        out.append(f"| {_md(lab.en)} (`{lab.id}`) | {_md(lab.zh)} | {t.by_label[lab.id]:,} | "
                   f"{t.label_density(lab.id):.2f} | {report.label_articles[lab.id]:,} |")
    if len(report.sources) > 1:
        out += ["", "## Per 1,000 characters by source and label", "",
                "| source | " + " | ".join(_md(lab.zh) for lab in report.labels) + " |",
                "|---|" + "--:|" * len(report.labels)]
        for g in report.sources:
            out.append(f"| {_md(g.name)} | " + " | ".join(f"{g.label_density(lab.id):.2f}"
                                                          for lab in report.labels) + " |")
    out += ["", "## Article scores", "", "| article score | articles |", "|---|--:|"]
    for i, n in enumerate(report.score_bins):
        out.append(f"| {_bin_label(i)} | {n:,} |")
    if t.scores:
        out += ["", f"Median {statistics.median(t.scores):.2f}, mean {statistics.fmean(t.scores):.2f} "
                    f"over {len(t.scores):,} articles."]
    out += ["", "## Most device-dense articles", ""]
    if not report.top:
        out.append("No article has a device.")
    for i, a in enumerate(report.top, 1):
        head = f" — {_md(a.headline)}" if a.headline else ""
        out.append(f"{i}. **{_md(a.id)}** ({_md(a.source)}){head}: {a.devices} devices in {a.chars:,} "
                   f"characters, {a.density:.2f} per 1,000; article score {_num(a.article_score)}")
        for s in a.top_spans():
            lab = report.label(str(s["label"]))
            out.append(f"   - {_md(lab.zh)} {_md(lab.en)} ({_score(s):.2f}): "
                       f"「{_md(s.get('text', ''))}」")
    out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- charts


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError(f"the HTML report draws its charts with matplotlib: {REPORT_EXTRA} "
                          "(or use --markdown)") from None


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """A font family with Chinese glyphs known to matplotlib, or None (with a warning)."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in names:
            return family
    for name in sorted(names):
        if "CJK" in name or "Han Sans" in name:
            return name
    log.warning("no CJK font found for the charts (install fonts-noto-cjk, e.g. `make browser`): "
                "Chinese label names in the charts show as boxes; the page text is unaffected")
    return None


def _rc() -> dict[str, Any]:
    family = cjk_font()
    return {
        "font.family": [family, "DejaVu Sans"] if family else ["DejaVu Sans"],
        "font.size": 10,
        "svg.fonttype": "path",  # glyphs as outlines: the page needs no font to show them
        "svg.hashsalt": "huashu-report",  # reproducible ids
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.axisbelow": True,
    }


def _svg(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _label_name(lab: LabelInfo) -> str:
    return lab.id if lab.zh == lab.en else f"{lab.zh}  {lab.en}"


def _trim(name: str, n: int = 28) -> str:
    return name if len(name) <= n else name[:n - 1] + "…"


def chart_by_source(report: CorpusReport) -> str:
    """Horizontal bars: devices per 1,000 chars by source, stacked by label."""
    from matplotlib.figure import Figure

    groups = chart_sources(report)[::-1]  # densest on top
    fig = Figure(figsize=(8.5, 2.4 + 0.34 * len(groups)), layout="constrained")
    ax = fig.subplots()
    y = range(len(groups))
    left = [0.0] * len(groups)
    for lab in report.labels:
        widths = [g.label_density(lab.id) for g in groups]
        if not any(widths):
            continue
        ax.barh(list(y), widths, left=left, color=lab.colour, edgecolor="#555", linewidth=0.4,
                label=_label_name(lab))
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for i, g in enumerate(groups):
        ax.text(left[i], i, f" {g.density:.2f}  (n={g.articles})", va="center", fontsize=8.5)
    ax.set_yticks(list(y), [_trim(g.name) for g in groups])
    ax.set_xlabel("devices per 1,000 characters / 每千字话术数")
    ax.set_xlim(0, max([*left, 0.1]) * 1.25)
    ax.grid(axis="x", color="#e4e4e4")
    fig.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    title = "Devices per 1,000 characters by source · 各来源每千字话术数"
    if len(groups) < len(report.sources):
        title += f" (largest {len(groups)} of {len(report.sources)})"
    ax.set_title(title, loc="left", fontsize=11)
    return _svg(fig)


def chart_by_label(report: CorpusReport) -> str:
    from matplotlib.figure import Figure

    labels = report.labels[::-1]
    fig = Figure(figsize=(8.5, 1.2 + 0.36 * len(labels)))
    ax = fig.subplots()
    values = [report.total.label_density(lab.id) for lab in labels]
    ax.barh(range(len(labels)), values, color=[lab.colour for lab in labels], edgecolor="#555", linewidth=0.4)
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        ax.text(v, i, f" {v:.2f}  ({report.total.by_label[lab.id]:,})", va="center", fontsize=8.5)
    ax.set_yticks(range(len(labels)), [_label_name(lab) for lab in labels])
    ax.set_xlabel("devices per 1,000 characters / 每千字话术数")
    ax.set_xlim(0, max([*values, 0.1]) * 1.3)
    ax.grid(axis="x", color="#e4e4e4")
    ax.set_title("Devices per 1,000 characters by label · 各类话术每千字数", loc="left", fontsize=11)
    return _svg(fig)


def chart_clickbait(report: CorpusReport) -> str | None:
    """Bars: share of headlines that are clickbait, by source (None when no article has a headline)."""
    from matplotlib.figure import Figure

    groups = [g for g in chart_sources(report) if g.headlines]
    if not groups:
        return None
    groups.sort(key=lambda g: (g.clickbait_rate or 0.0, g.name))
    fig = Figure(figsize=(8.5, 1.2 + 0.34 * len(groups)))
    ax = fig.subplots()
    rates = [100 * (g.clickbait_rate or 0.0) for g in groups]
    ax.barh(range(len(groups)), rates, color="#8fb8de", edgecolor="#555", linewidth=0.4)
    for i, g in enumerate(groups):
        ax.text(rates[i], i, f" {rates[i]:.0f}%  ({g.clickbait}/{g.headlines})", va="center", fontsize=8.5)
    ax.set_yticks(range(len(groups)), [_trim(g.name) for g in groups])
    ax.set_xlim(0, 115)
    ax.set_xlabel(f"% of headlines with clickbait probability ≥ {CLICKBAIT_THRESHOLD} / 标题党比例")
    ax.grid(axis="x", color="#e4e4e4")
    ax.set_title("Headline clickbait rate by source · 各来源标题党比例", loc="left", fontsize=11)
    return _svg(fig)


def chart_scores(report: CorpusReport) -> str | None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    scores = report.total.scores
    if not scores:
        return None
    fig = Figure(figsize=(8.5, 3.2))
    ax = fig.subplots()
    width = 1.0 / SCORE_BINS
    ax.bar([i * width for i in range(SCORE_BINS)], report.score_bins, width=width, align="edge",
           color="#b5a3d6", edgecolor="#555", linewidth=0.4)
    med = statistics.median(scores)
    ax.axvline(med, color="#c0392b", linestyle="--", linewidth=1)
    ax.text(med, max(report.score_bins) * 1.02, f" median {med:.2f}", color="#c0392b", fontsize=8.5)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, max(report.score_bins) * 1.15 + 0.5)
    ax.set_xlabel("article score / 文章得分 (0 = no devices, 1 = saturated)")
    ax.set_ylabel("articles / 文章数")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", color="#e4e4e4")
    ax.set_title(f"Distribution of article scores · 文章得分分布 (n={len(scores):,})", loc="left",
                 fontsize=11)
    return _svg(fig)


def charts(report: CorpusReport) -> dict[str, str | None]:
    """The charts as ``data:image/svg+xml`` URIs, by name (None: nothing to draw)."""
    _require_matplotlib()
    from matplotlib import rc_context

    with rc_context(_rc()), warnings.catch_warnings():
        # without a CJK font matplotlib warns once per missing glyph; cjk_font() warned once already
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        return {"by_source": chart_by_source(report), "by_label": chart_by_label(report),
                "clickbait": chart_clickbait(report), "scores": chart_scores(report)}


# --------------------------------------------------------------------------- HTML

CSS = """
:root { --ink: #1d1d1f; --muted: #6b6b70; --line: #e2e2e6; --bg: #fafafb; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); line-height: 1.5;
  font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
    "WenQuanYi Micro Hei", system-ui, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; } h2 { font-size: 1.2rem; margin: 36px 0 10px; }
.meta { color: var(--muted); font-size: .85rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px;
  margin: 18px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.card .v { font-size: 1.5rem; font-weight: 700; } .card .k { color: var(--muted); font-size: .8rem; }
.charts { display: grid; grid-template-columns: 1fr; gap: 16px; justify-items: center; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 10px 16px;
  width: 100%; max-width: 920px; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { color: var(--muted); font-size: .8rem; margin-top: 4px; }
table { border-collapse: collapse; background: #fff; font-size: .88rem; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f1f1f4; font-weight: 600; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 10px; }
.chip { display: inline-block; border-radius: 4px; padding: 0 6px; margin: 0 4px 2px 0;
  border: 1px solid #0002; font-size: .8rem; white-space: nowrap; }
.swatch { display: inline-block; width: .9em; height: .9em; border-radius: 2px; vertical-align: -.1em;
  margin-right: 6px; border: 1px solid #0003; }
ol.top { padding-left: 1.4em; } ol.top > li { background: #fff; border: 1px solid var(--line);
  border-radius: 10px; padding: 10px 14px; margin-bottom: 10px; }
.top .head { font-weight: 600; } .top .stats { color: var(--muted); font-size: .85rem; }
.top ul { margin: 6px 0 0; padding-left: 1.1em; } .top ul li { margin: 3px 0; }
.quote { background: #fff8e6; padding: 0 3px; }
.note { color: var(--muted); font-size: .85rem; }
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _chip(lab: LabelInfo) -> str:
    return (f'<span class="chip" style="background:{_e(lab.colour)}" data-label="{_e(lab.id)}" '
            f'title="{_e(lab.en)}">{_e(lab.zh)} · {_e(lab.en)}</span>')


def _figure(uri: str | None, name: str, alt: str, caption: str) -> str:
    if uri is None:
        return (f'<figure data-chart="{name}"><p class="note">{_e(alt)}: nothing to draw '
                f'({_e(caption)}).</p></figure>')
    return (f'<figure data-chart="{name}"><img src="{uri}" alt="{_e(alt)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _thead(text_cols: Sequence[str], num_cols: Sequence[str]) -> str:
    cells = [f"<th>{_e(c)}</th>" for c in text_cols] + [f'<th class="num">{_e(c)}</th>' for c in num_cols]
    return "<thead><tr>" + "".join(cells) + "</tr></thead>\n<tbody>\n"


def _nums(*values: str) -> str:
    return "".join(f'<td class="num">{_e(v)}</td>' for v in values)


def _heat(value: float, top: float) -> str:
    if top <= 0 or value <= 0:
        return ""
    alpha = 0.12 + 0.6 * min(1.0, value / top)
    return f' style="background: rgba(214, 69, 65, {alpha:.2f})"'


def render_html(report: CorpusReport, images: dict[str, str | None] | None = None) -> str:
    """One self-contained page (no scripts, no external resources)."""
    images = images if images is not None else charts(report)
    t = report.total
    p: list[str] = []
    p.append('<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
             '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
             "<title>话术 huashu · corpus report</title>\n"
             f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n")
    p.append("<h1>话术语料报告 · huashu corpus report</h1>\n")
    p.append(f'<p class="meta">Model 模型: {_e(", ".join(report.models) or "unknown")} · Input 输入: '
             f'{_e(", ".join(report.inputs))} · {_e(report.created)}</p>\n')
    cards = [(f"{t.articles:,}", "articles 文章"), (f"{len(report.sources):,}", "sources 来源"),
             (f"{t.chars:,}", "characters 字符"), (f"{t.devices:,}", "devices 话术"),
             (f"{t.density:.2f}", "devices per 1,000 chars 每千字话术"),
             (_pct(t.clickbait_rate), f"clickbait headlines 标题党 ({t.clickbait:,}/{t.headlines:,})"),
             (_num(t.mean_score), "mean article score 平均得分")]
    p.append('<section class="cards" id="totals">' + "".join(
        f'<div class="card"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>' for v, k in cards)
        + "</section>\n")

    p.append("<h2>图表 · Charts</h2>\n<section class=\"charts\">\n")
    shown = len(chart_sources(report))
    n_src = len(report.sources)
    more = f"; the chart shows the largest {shown} of {n_src}" if shown < n_src else ""
    p.append(_figure(images.get("by_source"), "by_source", "Devices per 1,000 characters by source",
                     "Pooled over each source's articles, stacked by label; n = articles" + more + "."))
    p.append(_figure(images.get("by_label"), "by_label", "Devices per 1,000 characters by label",
                     "Over the whole corpus; in brackets the number of devices."))
    p.append(_figure(images.get("clickbait"), "clickbait", "Headline clickbait rate by source",
                     f"Headlines with clickbait probability ≥ {CLICKBAIT_THRESHOLD}; articles without a "
                     "headline are not counted."))
    p.append(_figure(images.get("scores"), "scores", "Distribution of article scores",
                     "Article score: saturating weighted device density with the headline's clickbait "
                     "probability (0–1)."))
    p.append("</section>\n")

    p.append('<h2>来源 · Sources</h2>\n<div class="scroll"><table id="sources">\n'
             + _thead(["source 来源"], ["articles", "characters", "devices", "per 1,000 chars", "headlines",
                                      "clickbait rate", "mean article score"]))
    for g in report.sources:
        p.append(f'<tr data-source="{_e(g.name)}"><td>{_e(g.name)}</td>'
                 + _nums(f"{g.articles:,}", f"{g.chars:,}", f"{g.devices:,}", f"{g.density:.2f}",
                         f"{g.headlines:,}", _pct(g.clickbait_rate), _num(g.mean_score)) + "</tr>\n")
    p.append("</tbody></table></div>\n")

    p.append('<h2>话术类别 · Labels</h2>\n<div class="scroll"><table id="labels">\n'
             + _thead(["label 类别", "id"], ["devices", "per 1,000 chars", "articles with it"]))
    for lab in report.labels:
        swatch = f'<span class="swatch" style="background:{_e(lab.colour)}"></span>'
        p.append(f'<tr data-label="{_e(lab.id)}"><td>{swatch}{_e(lab.zh)} · {_e(lab.en)}</td>'
                 f"<td><code>{_e(lab.id)}</code></td>"
                 + _nums(f"{t.by_label[lab.id]:,}", f"{t.label_density(lab.id):.2f}",
                         f"{report.label_articles[lab.id]:,}") + "</tr>\n")
    p.append("</tbody></table></div>\n")

    if len(report.sources) > 1:
        top = max((g.label_density(lab.id) for g in report.sources for lab in report.labels), default=0.0)
        p.append('<h2>来源 × 类别 · Per 1,000 characters by source and label</h2>\n'
                 '<div class="scroll"><table id="matrix">\n<thead><tr><th>source 来源</th>')
        p.append("".join(f'<th class="num" title="{_e(lab.en)}">{_e(lab.zh)}</th>' for lab in report.labels))
        p.append("</tr></thead>\n<tbody>\n")
        for g in report.sources:
            p.append(f"<tr><td>{_e(g.name)}</td>" + "".join(
                f'<td class="num"{_heat(v, top)}>{v:.2f}</td>'
                for v in (g.label_density(lab.id) for lab in report.labels)) + "</tr>\n")
        p.append("</tbody></table></div>\n")

    p.append("<h2>话术最密集的文章 · Most device-dense articles</h2>\n")
    p.append(f'<p class="note">Ranked by devices per 1,000 characters, texts shorter than {MIN_CHARS} '
             "characters counted as that long; the highest-scoring spans of each.</p>\n")
    if not report.top:
        p.append('<p class="note">No article has a device.</p>\n')
    else:
        p.append('<ol class="top" id="top">\n')
        for a in report.top:
            head = f"{_e(a.headline)}" if a.headline else f"<code>{_e(a.id)}</code>"
            click = (f" · clickbait 标题党 {a.clickbait_probability:.2f}"
                     if a.clickbait_probability is not None else "")
            ident = f" · <code>{_e(a.id)}</code>" if a.headline else ""
            p.append(f'<li data-id="{_e(a.id)}"><div class="head">{head}</div>'
                     f'<div class="stats">{_e(a.source)}{ident} · {a.devices} devices in '
                     f"{a.chars:,} characters · <b>{a.density:.2f}</b> per 1,000 · article score "
                     f"{_num(a.article_score)}{click}</div><ul>")
            for s in a.top_spans():
                lab = report.label(str(s["label"]))
                p.append(f'<li>{_chip(lab)} <span class="quote">{_e(s.get("text", ""))}</span> '
                         f'<span class="note">{_score(s):.2f}</span></li>')
            p.append("</ul></li>\n")
        p.append("</ol>\n")
    p.append('<p class="note">Made by <code>huashu report</code>. Densities are pooled (devices × 1000 / '
             "characters) over each group's articles.</p>\n</main>\n</body>\n</html>\n")
    return "".join(p)


# --------------------------------------------------------------------------- entry point


def build_report(inputs: Sequence[Path | str], *, top: int = 10,
                 taxonomy: Taxonomy | None = None) -> CorpusReport:
    articles = read_scored(inputs)
    return aggregate(articles, top=top, taxonomy=taxonomy, inputs=[Path(p).name for p in inputs])


def write_report(inputs: Sequence[Path | str], output: Path | str | None, *, markdown: bool = False,
                 top: int = 10) -> tuple[CorpusReport, str]:
    """Read, aggregate and render; writes ``output`` when given. Returns the report and the text."""
    if not markdown:
        _require_matplotlib()  # fail before reading a large corpus
    if top < 0:
        raise ReportError("--top must be ≥ 0")
    if output is not None and Path(output).resolve() in {Path(p).resolve() for p in inputs}:
        raise ReportError(f"{output}: the output must not be an input file")
    report = build_report(inputs, top=top)
    text = render_markdown(report) if markdown else render_html(report)
    if output is not None:
        try:
            write_text_atomic(Path(output), text)
        except OSError as e:
            raise ReportError(f"{output}: cannot write: {e.strerror or e}") from None
    return report, text
