"""Ingestion: raw article files → cleaned :class:`~huashu.spans.Document` records.

Reads ``.txt``, ``.html``/``.htm``, ``.jsonl`` and ``.csv`` (the HanCD columns
label,title,text,source). Page chrome (navigation, share counters, disclaimers, related-article
lists, footers …) is removed by the data-driven rules in ``labels/chrome.yaml``; cleaning only
deletes stretches of the raw input or replaces characters one for one, so every document carries
an exact :class:`~huashu.offsets.OffsetMap` from its cleaned ``text`` back to the raw input:

- ``.txt``: raw = the file decoded as UTF-8 (see :func:`read_text`);
- ``.html``: raw = the HTML source string (tags and skipped elements are deleted stretches; an
  entity such as ``&amp;`` becomes one character mapped to the whole entity, a stretch segment
  of the offset map, so a span ending on it maps back to the full entity);
- ``.csv`` / ``.jsonl`` records: raw = the string ``f"{title}\\n{body}"`` (``meta["raw_layout"]``),
  which is also the document text, so the map is the identity.

Headlines: the first line of ``text`` when detected (``meta["title_span"]``); how it was found is
``meta["title_source"]`` (see :data:`TITLE_SOURCES`). A plain-text file with no other headline
takes its first line as the headline when that line is short, is followed by a blank line and does
not end like a sentence (the ``first_line`` rule of ``labels/chrome.yaml``): the line stays part of
the text, so offsets still index the raw file.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

import yaml

from huashu.normalize import to_simplified
from huashu.offsets import OffsetMap
from huashu.paths import corpus_of, labels_dir
from huashu.spans import Document, Span

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt": "text", ".html": "html", ".htm": "html"}
RECORD_SUFFIXES = {".jsonl", ".csv"}
SUPPORTED_SUFFIXES = tuple(sorted({*TEXT_SUFFIXES, *RECORD_SUFFIXES}))
CSV_REQUIRED = ("title", "text")
RAW_LAYOUT_RECORD = "title\\ntext"

Format = Literal["text", "html"]
# How a document's headline was found (``Document.meta["title_source"]``, the result's
# ``headline.source``):
TitleSource = Literal["title_field", "option", "html", "page_rule", "first_line"]
TITLE_SOURCES: dict[str, str] = {
    "title_field": "given with the text: a record's title column/field, the API's or server's `title`",
    "option": "given on the command line (`huashu score FILE --title ...`)",
    "html": "the HTML page's <h1>",
    "page_rule": "a headline rule of labels/chrome.yaml (e.g. the line after NetEase's navigation bar)",
    "first_line": "a plain-text file's first line: short, followed by a blank line, not ending like a "
                  "sentence (labels/chrome.yaml first_line)",
}


class IngestError(Exception):
    """Input that cannot be ingested; ``str()`` is one line: ``"<path>: <problem>"``."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


# --------------------------------------------------------------------------- chrome rules


class ChromeRulesError(ValueError):
    """labels/chrome.yaml is malformed."""


@dataclass(frozen=True)
class BlockRule:
    name: str
    start: re.Pattern[str]
    end: re.Pattern[str] | None


@dataclass(frozen=True)
class LineRule:
    name: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class PairRule:
    name: str
    pattern: re.Pattern[str]
    next: re.Pattern[str]


@dataclass(frozen=True)
class HeadlineRule:
    name: str
    after: re.Pattern[str]
    max_length: int = 80


@dataclass(frozen=True)
class FirstLineRule:
    """Plain text: the first kept line is the headline when it has at most ``max_length``
    characters, the raw line after it is blank, more text follows, and ``sentence_end`` does not
    match it (a line ending like a sentence is the opening paragraph, not a headline)."""

    max_length: int = 64
    sentence_end: re.Pattern[str] | None = None


@dataclass(frozen=True)
class ChromeRules:
    blocks: tuple[BlockRule, ...] = ()
    lines: tuple[LineRule, ...] = ()
    pairs: tuple[PairRule, ...] = ()
    inline: tuple[LineRule, ...] = ()
    headline: tuple[HeadlineRule, ...] = ()
    first_line: FirstLineRule | None = None  # None: a first line is never taken as the headline


def chrome_rules_path() -> Path:
    return labels_dir() / "chrome.yaml"


def parse_chrome_rules(data: dict[str, Any], where: str = "chrome.yaml") -> ChromeRules:
    def rx(rule: dict[str, Any], key: str, required: bool = True) -> re.Pattern[str] | None:
        value = rule.get(key)
        if value is None:
            if required:
                raise ChromeRulesError(f"{where}: rule {rule.get('name', '?')!r} has no {key!r}")
            return None
        try:
            return re.compile(str(value))
        except re.error as e:
            raise ChromeRulesError(f"{where}: rule {rule.get('name', '?')!r}: bad {key} regex: {e}") from None

    if not isinstance(data, dict):
        raise ChromeRulesError(f"{where}: expected a mapping at the top level")
    names: set[str] = set()

    def items(section: str) -> list[dict[str, Any]]:
        rules = data.get(section) or []
        for r in rules:
            if not isinstance(r, dict) or not r.get("name"):
                raise ChromeRulesError(f"{where}: every rule in {section!r} needs a name")
            if r["name"] in names:
                raise ChromeRulesError(f"{where}: duplicate rule name {r['name']!r}")
            names.add(r["name"])
        return rules

    first_line = None
    if data.get("first_line") is not None:
        fl = data["first_line"]
        if not isinstance(fl, dict):
            raise ChromeRulesError(f"{where}: first_line must be a mapping (max_length, sentence_end)")
        try:
            max_length = int(fl.get("max_length", 64))
        except (TypeError, ValueError):
            raise ChromeRulesError(f"{where}: first_line.max_length must be an integer") from None
        first_line = FirstLineRule(max_length, rx({"name": "first_line", **fl}, "sentence_end", False))

    return ChromeRules(
        first_line=first_line,
        blocks=tuple(BlockRule(r["name"], rx(r, "start"), rx(r, "end", False)) for r in items("blocks")),
        lines=tuple(LineRule(r["name"], rx(r, "pattern")) for r in items("lines")),
        pairs=tuple(PairRule(r["name"], rx(r, "pattern"), rx(r, "next")) for r in items("pairs")),
        inline=tuple(LineRule(r["name"], rx(r, "pattern")) for r in items("inline")),
        headline=tuple(HeadlineRule(r["name"], rx(r, "after"), int(r.get("max_length", 80)))
                       for r in items("headline")),
    )


@lru_cache(maxsize=4)
def _load_rules_cached(path: str, mtime: float) -> ChromeRules:
    with open(path, encoding="utf-8") as fh:
        return parse_chrome_rules(yaml.safe_load(fh), where=path)


def load_chrome_rules(path: Path | None = None) -> ChromeRules:
    path = path or chrome_rules_path()
    return _load_rules_cached(str(path), path.stat().st_mtime)


# --------------------------------------------------------------------------- cleaning


@dataclass
class _Line:
    lo: int  # stripped content [lo, hi) in the source text
    hi: int
    newline: int | None  # index of the "\n" ending the line, if any
    simple: str = ""  # simplified form of the stripped content (same length)
    drop: str | None = None  # rule that removed it
    cuts: list[tuple[int, int]] = field(default_factory=list)  # inline deletions (source indices)

    @property
    def blank(self) -> bool:
        return self.hi <= self.lo


def _is_strippable(ch: str) -> bool:
    return ch.isspace() or ch in "\ufeff\u200b"


def _split_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    start = 0
    n = len(text)
    while start <= n:
        nl = text.find("\n", start)
        end = n if nl < 0 else nl
        lo, hi = start, end
        while lo < hi and _is_strippable(text[lo]):
            lo += 1
        while hi > lo and _is_strippable(text[hi - 1]):
            hi -= 1
        lines.append(_Line(lo, hi, None if nl < 0 else nl))
        if nl < 0:
            break
        start = nl + 1
    return lines


@dataclass
class _Cleaned:
    text: str
    positions: list[int]  # source index of each cleaned character
    title: str | None
    title_first: bool  # the headline is the first line of the cleaned text
    removed: dict[str, int]
    title_source: str | None = None  # "page_rule" / "first_line" when found here; None with a hint


def _first_line_headline(text: str, lines: list[_Line], first_kept: int | None, rule: FirstLineRule,
                         ) -> bool:
    """Whether the first kept line is a plain-text headline (see :class:`FirstLineRule`)."""
    if first_kept is None or first_kept + 1 >= len(lines):
        return False
    line = lines[first_kept]
    if not lines[first_kept + 1].blank or line.cuts or line.hi - line.lo > rule.max_length:
        return False
    if rule.sentence_end is not None and rule.sentence_end.search(text[line.lo:line.hi]):
        return False
    return any(not ln.blank and not ln.drop for ln in lines[first_kept + 1:])


def _clean(text: str, rules: ChromeRules, title_hint: str | None = None,
           first_line: bool = False) -> _Cleaned:
    lines = _split_lines(text)
    for ln in lines:
        ln.simple = to_simplified(text[ln.lo:ln.hi])
    content = [i for i, ln in enumerate(lines) if not ln.blank]

    def next_content(i: int) -> int | None:
        for j in content:
            if j > i:
                return j
        return None

    # headline (decided on the raw page, before anything is dropped)
    headline_line: int | None = None
    headline_text: str | None = None
    for rule in rules.headline:
        for i in content:
            m = rule.after.search(lines[i].simple)
            if not m:
                continue
            j = next_content(i)
            wanted = m.groupdict().get("title")
            if wanted is not None:
                headline_text = wanted.strip()
                if j is not None and text[lines[j].lo:lines[j].hi] in (headline_text, m.group("title")):
                    headline_line = j
            elif j is not None and lines[j].hi - lines[j].lo <= rule.max_length:
                headline_line = j
            break
        if headline_line is not None or headline_text is not None:
            break

    # trailing blocks
    k = 0
    while k < len(content):
        i = content[k]
        rule = next((b for b in rules.blocks if b.start.search(lines[i].simple)), None)
        if rule is None:
            k += 1
            continue
        stop = len(content)
        if rule.end is not None:
            for kk in range(k + 1, len(content)):
                if rule.end.search(lines[content[kk]].simple):
                    stop = kk + 1
                    break
        for kk in range(k, stop):
            lines[content[kk]].drop = rule.name
        k = stop

    # single lines and pairs
    for k, i in enumerate(content):
        ln = lines[i]
        if ln.drop:
            continue
        for rule in rules.lines:
            if rule.pattern.search(ln.simple):
                ln.drop = rule.name
                break
        if ln.drop:
            continue
        nxt = lines[content[k + 1]].simple if k + 1 < len(content) else None
        for pair in rules.pairs:
            if nxt is not None and pair.pattern.search(ln.simple) and pair.next.search(nxt):
                ln.drop = pair.name
                break

    # inline deletions
    removed: dict[str, int] = {}
    for i in content:
        ln = lines[i]
        if ln.drop:
            removed[ln.drop] = removed.get(ln.drop, 0) + 1
            continue
        for rule in rules.inline:
            for m in rule.pattern.finditer(ln.simple):
                if m.end() > m.start():
                    ln.cuts.append((ln.lo + m.start(), ln.lo + m.end()))
                    removed[rule.name] = removed.get(rule.name, 0) + 1
        if ln.cuts:
            ln.cuts.sort()
            keep = [c for c in range(ln.lo, ln.hi) if not any(a <= c < b for a, b in ln.cuts)]
            if not "".join(text[c] for c in keep).strip():
                ln.drop = ln.drop or "placeholder_only"

    # assemble: kept lines joined by one "\n" (mapped to the raw newline ending the previous line)
    out: list[str] = []
    pos: list[int] = []
    first_kept: int | None = None
    prev_newline: int | None = None
    for i in content:
        ln = lines[i]
        if ln.drop:
            continue
        chars = range(ln.lo, ln.hi)
        if ln.cuts:
            chars = [c for c in chars if not any(a <= c < b for a, b in ln.cuts)]
            # trim whitespace exposed by the deletion
            while chars and _is_strippable(text[chars[0]]):
                chars = chars[1:]
            while chars and _is_strippable(text[chars[-1]]):
                chars = chars[:-1]
        if first_kept is None:
            first_kept = i
        elif prev_newline is not None:
            out.append("\n")
            pos.append(prev_newline)
        for c in chars:
            out.append(text[c])
            pos.append(c)
        prev_newline = ln.newline if ln.newline is not None else (ln.hi - 1)

    clean_text = "".join(out)
    title: str | None = None
    title_first = False
    source: str | None = None
    top = clean_text.split("\n", 1)[0] if clean_text else ""
    if title_hint:
        title = title_hint.strip()
        title_first = bool(title) and top == title
    elif headline_line is not None and not lines[headline_line].drop:
        title = text[lines[headline_line].lo:lines[headline_line].hi]
        title_first = headline_line == first_kept and top == title
        source = "page_rule"
    elif headline_text:
        title = headline_text
        title_first = top == title
        source = "page_rule"
    elif first_line and rules.first_line is not None \
            and _first_line_headline(text, lines, first_kept, rules.first_line):
        title, title_first, source = top, True, "first_line"
    return _Cleaned(clean_text, pos, title or None, title_first, removed, source if title else None)


def _offset_map(positions: list[int], stretches: dict[int, int] | None = None) -> OffsetMap:
    """Positions (raw start of each clean char) -> segments; ``stretches`` maps a clean index
    to the raw end of a multi-character source (an HTML entity)."""
    m = OffsetMap()
    stretches = stretches or {}
    run_c = run_r = 0
    run_n = 0
    for c, r in enumerate(positions):
        if c in stretches:
            if run_n:
                m.append(run_c, run_r, run_n)
                run_n = 0
            m.append_stretch(c, r, stretches[c] - r)
            continue
        if run_n and r == run_r + run_n:
            run_n += 1
            continue
        if run_n:
            m.append(run_c, run_r, run_n)
        run_c, run_r, run_n = c, r, 1
    if run_n:
        m.append(run_c, run_r, run_n)
    return m


# --------------------------------------------------------------------------- HTML


_SKIP_TAGS = {"script", "style", "noscript", "template", "nav", "header", "footer", "aside", "iframe",
              "svg", "head", "form", "button", "select", "textarea", "object", "canvas"}
_BLOCK_TAGS = {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "section",
               "article", "main", "tr", "td", "th", "table", "blockquote", "pre", "hr", "dd", "dt", "dl",
               "figure", "figcaption", "body", "html", "address", "details", "summary"}
_VOID_TAGS = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source",
              "track", "wbr", "param"}
_CHARREF = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);?")


class _TextExtractor(HTMLParser):
    """Visible text of an HTML page with the source index of every character."""

    def __init__(self, raw: str) -> None:
        super().__init__(convert_charrefs=False)
        self.raw = raw
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", raw)]
        self.chars: list[str] = []
        self.pos: list[int] = []
        self.stretches: dict[int, int] = {}  # extracted index -> raw end of a multi-char source
        self.skip: list[str] = []
        self.h1: list[str] | None = None
        self.h1_text: str | None = None
        self.segment_breaks: set[int] = set()  # spaces that stand for a source line break

    def _abs(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def _emit(self, ch: str, p: int, raw_end: int | None = None) -> None:
        if ch.isspace():  # HTML whitespace: a run becomes one space (line breaks come from tags)
            if ch == "\n" and self.chars and self.chars[-1] == " ":
                self.segment_breaks.add(len(self.chars) - 1)
            if self.chars and self.chars[-1] in " \n":
                return
            if ch == "\n":
                self.segment_breaks.add(len(self.chars))
            ch = " "
        if raw_end is not None and raw_end > p + 1:
            self.stretches[len(self.chars)] = raw_end
        self.chars.append(ch)
        self.pos.append(p)
        if self.h1 is not None:
            self.h1.append(ch)

    def _break(self) -> None:
        if self.chars and self.chars[-1] == "\n":
            return
        p = self._abs()
        self.chars.append("\n")
        self.pos.append(p)
        if self.h1 is not None:
            self.h1.append(" ")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip:
            if tag == "body" and self.skip[0] == "head":  # </head> may be omitted
                self.skip.clear()
            elif tag == self.skip[-1] and tag not in _VOID_TAGS:
                self.skip.append(tag)
                return
            else:
                return
        if tag in _SKIP_TAGS:
            self.skip.append(tag)
            return
        if tag in _BLOCK_TAGS:
            self._break()
        if tag == "h1" and self.h1_text is None:
            self.h1 = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.skip and tag in _BLOCK_TAGS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.pop()
            return
        if tag == "h1" and self.h1 is not None:
            self.h1_text = " ".join("".join(self.h1).split()) or None
            self.h1 = None
        if tag in _BLOCK_TAGS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        p = self._abs()
        if self.raw.startswith(data, p):
            for i, ch in enumerate(data):
                self._emit(ch, p + i)
        else:  # defensive: the parser normalised something; map to the best match
            q = self.raw.find(data, p)
            base = q if q >= 0 else p
            for i, ch in enumerate(data):
                self._emit(ch, min(base + i, len(self.raw) - 1))

    def _ref(self) -> None:
        if self.skip:
            return
        p = self._abs()
        m = _CHARREF.match(self.raw, p)
        if not m:
            return
        value = html.unescape(m.group())
        for ch in value:
            self._emit(ch, p, m.end())

    def handle_entityref(self, name: str) -> None:
        self._ref()

    def handle_charref(self, name: str) -> None:
        self._ref()


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _extract_html(raw: str) -> tuple[str, list[int], dict[int, int], str | None]:
    parser = _TextExtractor(raw)
    parser.feed(raw)
    parser.close()
    chars, pos, stretches = parser.chars, parser.pos, parser.stretches
    # A source line break between two CJK characters is not a space (CSS Text 3 segment breaks):
    # drop it, so wrapped Chinese paragraphs come out unbroken.
    drop = {i for i in parser.segment_breaks
            if 0 < i < len(chars) - 1 and _is_wide(chars[i - 1]) and _is_wide(chars[i + 1])}
    if drop:
        keep = [i for i in range(len(chars)) if i not in drop]
        new_index = {old: new for new, old in enumerate(keep)}
        stretches = {new_index[i]: end for i, end in stretches.items() if i in new_index}
        chars = [chars[i] for i in keep]
        pos = [pos[i] for i in keep]
    return "".join(chars), pos, stretches, parser.h1_text


# --------------------------------------------------------------------------- public API


def ingest_text(raw: str, doc_id: str, fmt: Format = "text", source: str = "",
                title: str | None = None, rules: ChromeRules | None = None,
                title_source: TitleSource = "title_field") -> Document:
    """Clean one raw article (plain text or HTML source) into a Document with offsets into ``raw``.

    ``title`` is the headline when known (``title_source`` says where it came from); otherwise it
    is found in the page: the HTML ``<h1>``, a chrome.yaml headline rule, or (plain text) the first
    line. Raises ValueError when no article text is left.
    """
    rules = rules or load_chrome_rules()
    title = title.strip() if title else None
    hint_source: str = title_source
    if fmt == "html":
        text, to_raw, stretches, h1 = _extract_html(raw)
        if not title and h1:
            hint_source = "html"
        cleaned = _clean(text, rules, title_hint=title or h1)
        positions = [to_raw[p] for p in cleaned.positions]
        raw_ends = {c: stretches[p] for c, p in enumerate(cleaned.positions) if p in stretches}
    elif fmt == "text":
        cleaned = _clean(raw, rules, title_hint=title, first_line=True)
        positions = cleaned.positions
        raw_ends = {}
    else:
        raise ValueError(f"unknown format {fmt!r} (expected 'text' or 'html')")
    if not cleaned.text.strip():
        raise ValueError("no article text left after removing page chrome")
    meta: dict[str, Any] = {"format": fmt}
    if cleaned.title:
        meta["title_source"] = cleaned.title_source or hint_source
    if cleaned.title and cleaned.title_first:
        meta["title_span"] = [0, len(cleaned.title)]
    if cleaned.removed:
        meta["chrome_removed"] = dict(sorted(cleaned.removed.items()))
    return Document(id=doc_id, text=cleaned.text, title=cleaned.title, source=source, meta=meta,
                    offsets=_offset_map(positions, raw_ends))


def span_to_raw(doc: Document, start: int, end: int) -> tuple[int, int]:
    """Clean span → raw span (the offset map covers multi-character sources such as entities)."""
    if doc.offsets is None:
        return start, end
    return doc.offsets.span_to_raw(start, end)


def raw_span(doc: Document, span: Span) -> Span:
    """Like ``Document.to_raw`` but exact for spans ending on an HTML entity."""
    s, e = span_to_raw(doc, span.start, span.end)
    return Span(s, e, span.label, span.score, span.source)


def read_text(path: Path) -> str:
    """Decode a text file exactly as ingest does (UTF-8, BOM dropped, newlines untouched): the
    "raw input" that offsets point into."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IngestError(path, "no such file") from None
    except IsADirectoryError:
        raise IngestError(path, "is a directory") from None
    except OSError as e:
        raise IngestError(path, f"cannot read: {e.strerror or e}") from None
    if not data.strip():
        raise IngestError(path, "empty file")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise IngestError(path, "bad UTF-16 text") from None
    if b"\x00" in data[:8192]:
        raise IngestError(path, "binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        hint = ""
        try:
            data.decode("gb18030")
            hint = "; it looks like GBK/GB18030: convert it with `iconv -f GB18030 -t UTF-8`"
        except UnicodeDecodeError:
            pass
        raise IngestError(path, f"not UTF-8 text (bad byte 0x{data[e.start]:02x} at byte {e.start}){hint}") \
            from None
    bad = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if bad > 8:
        raise IngestError(path, "binary file (control characters), not text")
    return text


def _record_document(doc_id: str, title: str | None, body: str, source: str,
                     meta: dict[str, Any]) -> Document:
    title = (title or "").strip() or None
    text = f"{title}\n{body}" if title else body
    meta = {"format": "record", "raw_layout": RAW_LAYOUT_RECORD if title else "text", **meta}
    if title:
        meta["title_span"] = [0, len(title)]
        meta["title_source"] = "title_field"
    return Document(id=doc_id, text=text, title=title, source=source, meta=meta,
                    offsets=OffsetMap.identity(len(text)))


def _ingest_csv(path: Path, text: str) -> list[Document]:
    csv.field_size_limit(1 << 30)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise IngestError(path, "empty CSV (no header row)")
    reader.fieldnames = header
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise IngestError(path, f"CSV is missing column(s) {', '.join(missing)} "
                                f"(found: {', '.join(header)}; expected label,title,text,source)")
    docs: list[Document] = []
    try:
        for index, row in enumerate(reader):
            doc_id = f"{path.stem}-{index:04d}"
            if None in row:
                raise IngestError(path, f"row {index + 2}: more fields than the header has")
            body = row.get("text") or ""
            if not body.strip():
                log.warning("%s: row %d (%s): empty text, skipped", path, index + 2, doc_id)
                continue
            meta: dict[str, Any] = {"file": path.name, "row": index}
            label = (row.get("label") or "").strip()
            if label:
                try:
                    meta["clickbait_label"] = int(label)
                except ValueError:
                    log.warning("%s: row %d: label %r is not an integer, ignored", path, index + 2, label)
            if row.get("source") is not None:
                meta["source"] = row["source"]
            docs.append(_record_document(doc_id, row.get("title"), body, str(path), meta))
    except csv.Error as e:
        raise IngestError(path, f"bad CSV at line {reader.line_num}: {e}") from None
    if not docs:
        raise IngestError(path, "CSV has no rows with text")
    return docs


def _ingest_jsonl(path: Path, text: str) -> list[Document]:
    docs: list[Document] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise IngestError(path, f"line {lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise IngestError(path, f"line {lineno}: expected a JSON object")
        body = rec.get("text")
        if not isinstance(body, str) or not body.strip():
            raise IngestError(path, f"line {lineno}: missing or empty \"text\" field")
        doc_id = str(rec["id"]) if rec.get("id") not in (None, "") else f"{path.stem}-{len(docs):04d}"
        if doc_id in seen:
            raise IngestError(path, f"line {lineno}: duplicate id {doc_id!r}")
        seen.add(doc_id)
        title = rec.get("title")
        if title is not None and not isinstance(title, str):
            raise IngestError(path, f"line {lineno}: \"title\" must be a string")
        meta = {"file": path.name, "line": lineno}
        docs.append(_record_document(doc_id, title, body, str(rec.get("source") or path), meta))
    if not docs:
        raise IngestError(path, "no records")
    return docs


def ingest_file(path: Path, title: str | None = None, title_source: TitleSource = "option",
                ) -> list[Document]:
    """All documents of one file. Raises IngestError (one line naming the file and the problem).

    ``title``: the headline of a .txt/.html file (``huashu score FILE --title``); records
    (.csv/.jsonl) carry their own titles and refuse one.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(path, f"unsupported file type {suffix or '(none)'!r} "
                                f"(expected one of {', '.join(SUPPORTED_SUFFIXES)})")
    if title is not None and suffix in RECORD_SUFFIXES:
        raise IngestError(path, "a title can be given only for a .txt or .html file "
                                "(.csv/.jsonl records carry their own titles)")
    text = read_text(path)
    if suffix == ".csv":
        docs = _ingest_csv(path, text)
    elif suffix == ".jsonl":
        docs = _ingest_jsonl(path, text)
    else:
        fmt: Format = TEXT_SUFFIXES[suffix]  # type: ignore[assignment]
        if fmt == "text" and re.match(r"\s*<(!doctype html|html)\b", text, re.I):
            fmt = "html"
        try:
            doc = ingest_text(text, path.stem, fmt=fmt, source=str(path), title=title,
                              title_source=title_source)
        except ValueError as e:
            raise IngestError(path, str(e)) from None
        doc.meta["file"] = path.name
        docs = [doc]
    ref = corpus_of(path)
    if ref is not None:
        for d in docs:
            d.meta["corpus"], d.meta["corpus_source"] = ref
    return docs


def iter_input_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files named, and supported files under directories named (recursively, sorted)."""
    for p in paths:
        p = Path(p)
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*")
                              if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES
                              and not any(part.startswith(".") for part in f.relative_to(p).parts))
        else:
            yield p


def ingest_paths(paths: Iterable[Path]) -> Iterator[tuple[Path, list[Document] | IngestError]]:
    """(file, its documents or the error) for every input file; one bad file never stops the rest."""
    for f in iter_input_files(paths):
        try:
            yield f, ingest_file(f)
        except IngestError as e:
            yield f, e


def dump_jsonl(docs: Iterable[Document], fh: Any) -> int:
    n = 0
    for d in docs:
        fh.write(json.dumps(d.to_dict(), ensure_ascii=False) + "\n")
        n += 1
    return n


def write_jsonl(docs: Iterable[Document], path: Path) -> int:
    """Write documents as JSONL (atomically); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        n = dump_jsonl(docs, fh)
    tmp.replace(path)
    return n


def read_jsonl(path: Path) -> list[Document]:
    """Documents written by :func:`write_jsonl` / `huashu ingest`."""
    path = Path(path)
    docs = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                docs.append(Document.from_dict(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise IngestError(path, f"line {lineno}: not an ingested document ({e})") from None
    return docs
