"""The rules detector: the baseline and the first pre-annotator (skweak / snorkel style).

Each rule is a tiny named function registered with :func:`rule`::

    @rule("engagement_bait")
    def engagement_call(text: str, doc: Document, lex: Lexicon) -> Iterable[Span]: ...

``text`` is ``to_simplified(doc.text)`` (OpenCC t2s, one character for one character, so offsets
into it are offsets into ``doc.text`` and traditional articles work), ``doc`` is the document
(title span, meta), ``lex`` is the rule's lexicon: the data in ``labels/lexicons/<label>.yaml``
(terms, patterns and precision-ish score priors). Rules compose: the detector runs all of them,
trims boundaries, and resolves overlaps of the same label (the longer span wins, then the higher
score; adjacent spans are never merged). Spans of different labels may overlap.

The detector's version is a hash of the lexicons and of this file, so pre-annotations say exactly
which rules produced them.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from huashu.normalize import to_simplified
from huashu.paths import labels_dir
from huashu.spans import Document, Span
from huashu.taxonomy import load_taxonomy

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Lexicons (data)
# --------------------------------------------------------------------------------------------


class LexiconError(ValueError):
    """A lexicon file is malformed (bad yaml, unknown label, bad regex): the message names it."""


@dataclass(frozen=True)
class Entry:
    regex: re.Pattern[str]
    score: float
    source: str  # the term or pattern as written in the yaml


@dataclass(frozen=True)
class Lexicon:
    label: str
    path: Path
    score: float
    entries: tuple[Entry, ...] = ()
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def compiled(self, key: str) -> list[Entry]:
        """Entries of a label-specific list of ``{pattern, score}`` (e.g. ``attribution``)."""
        return [_entry(item, self.score, self.path, key) for item in self.data.get(key) or []]

    def regexes(self, key: str) -> list[re.Pattern[str]]:
        """A label-specific list of bare regex strings (e.g. ``named_source``)."""
        return [_compile(p, self.path, key) for p in self.data.get(key) or []]


def _compile(pattern: str, path: Path, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise LexiconError(f"{path.name}: bad regex in {where}: {pattern!r} ({e})") from None


def _entry(item: Any, default: float, path: Path, where: str) -> Entry:
    if isinstance(item, str):
        item = {"term": item} if where == "terms" else {"pattern": item}
    if not isinstance(item, dict) or not ({"term", "pattern"} & item.keys()):
        raise LexiconError(f"{path.name}: {where} entry {item!r} needs 'term' or 'pattern'")
    score = float(item.get("score", default))
    if not 0.0 < score <= 1.0:
        raise LexiconError(f"{path.name}: score {score} of {item!r} is not in (0, 1]")
    if "term" in item:
        term = str(item["term"])
        # a couplet term (得道多助，失道寡助) also matches with other or no punctuation between its halves
        halves = [re.escape(h) for h in re.split(r"[，,、；;\s]+", term) if h]
        regex = r"[，,、；;\s]{0,2}".join(halves) if len(halves) > 1 else re.escape(term)
        return Entry(re.compile(regex), score, term)
    pattern = str(item["pattern"])
    return Entry(_compile(pattern, path, where), score, pattern)


def lexicon_dir() -> Path:
    return labels_dir() / "lexicons"


@lru_cache(maxsize=8)
def _load_lexicons(directory: str, signature: tuple[tuple[str, int, int], ...]) -> dict[str, Lexicon]:
    root = Path(directory)
    known = set(load_taxonomy().ids)
    out: dict[str, Lexicon] = {}
    for path in sorted(root.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise LexiconError(f"{path.name}: not valid yaml ({e})") from None
        label = data.get("label")
        if label not in known:
            raise LexiconError(f"{path.name}: label {label!r} is not in the taxonomy")
        yields = data.get("yields_to") or []
        if not isinstance(yields, list) or any(y not in known or y == label for y in yields):
            raise LexiconError(f"{path.name}: yields_to must list other taxonomy labels, got {yields!r}")
        score = float(data.get("score", 0.5))
        entries = [_entry(t, score, path, "terms") for t in data.get("terms") or []]
        entries += [_entry(p, score, path, "patterns") for p in data.get("patterns") or []]
        seen: set[str] = set()
        for en in entries:
            if en.source in seen:  # an editing slip: two scores for one term, one silently ignored
                raise LexiconError(f"{path.name}: {en.source!r} is listed twice")
            seen.add(en.source)
        out[label] = Lexicon(label, path, score, tuple(entries), data)
    if not out:
        raise LexiconError(f"no lexicons (*.yaml) in {root}")
    return out


def load_lexicons(directory: Path | str | None = None) -> dict[str, Lexicon]:
    """All lexicons of a folder (cached until a file in it changes)."""
    root = Path(directory or lexicon_dir())
    if not root.is_dir():
        raise LexiconError(f"lexicon folder not found: {root}")
    signature = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(root.glob("*.yaml")))
    return _load_lexicons(str(root), signature)


# --------------------------------------------------------------------------------------------
# Text helpers: clauses, sentences, quotes, trimming
# --------------------------------------------------------------------------------------------

CLAUSE_BREAKS = frozenset("，,。！？!?；;：:\n\r")
SENTENCE_BREAKS = frozenset("。！？!?\n\r")
OPEN_QUOTES = {"“": "”", "「": "」", "『": "』", "‘": "’", "《": "》"}
CLOSE_QUOTES = {v: k for k, v in OPEN_QUOTES.items()}
TRIM = frozenset(" \t\r\n\u3000，,。．.！？!?；;：:、…—-·~～()（）[]【】")


def _trimmable(ch: str) -> bool:
    """Whitespace, punctuation, emoji/symbols and invisible characters never start or end a span."""
    return ch in TRIM or unicodedata.category(ch)[0] in "ZCS"


def _is_break(text: str, i: int, breaks: frozenset[str]) -> bool:
    ch = text[i]
    if ch in breaks:
        return True
    if breaks is CLAUSE_BREAKS and (ch.isspace() or unicodedata.category(ch)[0] == "S"):
        return True  # whitespace and emoji/symbols end a clause (not a sentence)
    # an ASCII full stop ends a clause unless it is a decimal point (1.2万亿)
    return ch == "." and not (0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit())


def bounds(text: str, i: int, breaks: frozenset[str] = CLAUSE_BREAKS) -> tuple[int, int]:
    """[start, end) of the clause (or sentence) containing index ``i``; end includes the break."""
    s = i
    while s > 0 and not _is_break(text, s - 1, breaks):
        s -= 1
    e = i
    while e < len(text) and not _is_break(text, e, breaks):
        e += 1
    return s, min(e + 1, len(text))


def sentences(text: str) -> Iterator[tuple[int, int]]:
    """[start, end) of every sentence; end includes its terminator (。！？!? or a line break)."""
    start = 0
    for i in range(len(text)):
        if _is_break(text, i, SENTENCE_BREAKS):
            # keep runs of terminators together (？！ / ?!)
            if i + 1 < len(text) and text[i + 1] in "？！?!" and text[i] not in "\n\r":
                continue
            if i + 1 > start:
                yield start, i + 1
            start = i + 1
    if start < len(text):
        yield start, len(text)


def quote_regions(text: str) -> list[tuple[int, int]]:
    """[open, close+1) of every balanced quote pair on one line (“…”, 「…」, 『…』, ‘…’, 《…》)."""
    regions: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []
    for i, ch in enumerate(text):
        if ch in "\n\r":
            stack.clear()
        elif ch in OPEN_QUOTES:
            stack.append((ch, i))
        elif ch in CLOSE_QUOTES:
            for k in range(len(stack) - 1, -1, -1):
                if stack[k][0] == CLOSE_QUOTES[ch]:
                    regions.append((stack[k][1], i + 1))
                    del stack[k:]
                    break
    regions.sort()
    return regions


def trim(text: str, start: int, end: int, keep_end: str = "") -> tuple[int, int] | None:
    """Boundary rules: drop leading/trailing whitespace and punctuation, except a closing
    character in ``keep_end`` (？ for questions) and quote marks whose partner is inside the span."""
    while start < end:
        ch = text[start]
        if _trimmable(ch) or (ch in OPEN_QUOTES and OPEN_QUOTES[ch] not in text[start + 1:end]):
            start += 1
        elif ch in CLOSE_QUOTES:
            start += 1
        else:
            break
    while end > start:
        ch = text[end - 1]
        if ch in keep_end:
            break
        unpaired_close = ch in CLOSE_QUOTES and CLOSE_QUOTES[ch] not in text[start:end - 1]
        if _trimmable(ch) or ch in OPEN_QUOTES or unpaired_close:
            end -= 1
        else:
            break
    return (start, end) if start < end else None


SPEECH_VERBS = re.compile(
    r"(问|问道|提问|追问|质问|称|说|说道|表示|回应|回答|写道|表态|强调|指出|认为|直言|宣称|声称|警告)[：:，,]?\s*$")


@dataclass
class DocContext:
    """Per-document facts several rules need, computed once."""

    text: str
    quotes: list[tuple[int, int]]
    questions: list[tuple[int, int]]  # trimmed sentences ending in ？/? (two rules read them)

    def enclosing_quote(self, start: int, end: int) -> tuple[int, int] | None:
        best = None
        for qs, qe in self.quotes:
            if qs > start:
                break
            if qs < start and end < qe:
                best = (qs, qe)  # innermost wins (later openers come later in the sorted list)
        return best

    def exact_quote(self, start: int, end: int) -> tuple[int, int] | None:
        for qs, qe in self.quotes:
            if qs + 1 == start and qe - 1 == end:
                return qs, qe
        return None

    def is_reported_speech(self, start: int, end: int) -> bool:
        """Inside quotes opened right after a speech verb (X说：“…”), D3."""
        q = self.enclosing_quote(start, end)
        if q is None:
            return False
        before = self.text[max(0, q[0] - 8):q[0]]
        return bool(SPEECH_VERBS.search(before))


def question_sentences(text: str) -> list[tuple[int, int]]:
    """[start, end) of every sentence that ends in a question mark, trimmed, the mark kept."""
    out = []
    for s, e in sentences(text):
        t = trim(text, s, e, keep_end="？?")
        if t is not None and text[t[1] - 1] in "？?":
            out.append(t)
    return out


@lru_cache(maxsize=64)
def _context(text: str) -> DocContext:
    return DocContext(text, quote_regions(text), question_sentences(text))


# --------------------------------------------------------------------------------------------
# Rule registry
# --------------------------------------------------------------------------------------------

RuleFn = Callable[[str, Document, Lexicon], Iterable[Span]]


@dataclass(frozen=True)
class Rule:
    name: str
    label: str
    fn: RuleFn

    def __call__(self, text: str, doc: Document, lex: Lexicon) -> Iterable[Span]:
        return self.fn(text, doc, lex)


RULES: dict[str, Rule] = {}


def rule(label: str, name: str | None = None) -> Callable[[RuleFn], RuleFn]:
    """Register a rule function for ``label`` (its lexicon is ``labels/lexicons/<label>.yaml``)."""

    def deco(fn: RuleFn) -> RuleFn:
        rule_name = name or fn.__name__
        if rule_name in RULES:
            raise ValueError(f"duplicate rule name {rule_name!r}")
        RULES[rule_name] = Rule(rule_name, label, fn)
        return fn

    return deco


def _span(text: str, start: int, end: int, label: str, score: float, source: str,
          keep_end: str = "") -> Span | None:
    t = trim(text, start, end, keep_end)
    if t is None:
        return None
    return Span(t[0], t[1], label, round(min(max(score, 0.0), 1.0), 4), source)


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------


def _lexicon_hits(text: str, doc: Document, lex: Lexicon, source: str) -> Iterator[Span]:
    """Every term/pattern hit; D7: a hit that is exactly a quoted word takes its quote marks;
    D3: a hit inside a named speaker's quoted words is skipped."""
    ctx = _context(text)
    for entry in lex.entries:
        for m in entry.regex.finditer(text):
            s, e = m.span()
            if e <= s or ctx.is_reported_speech(s, e):
                continue
            exact = ctx.exact_quote(s, e)
            if exact:
                s, e = exact
            yield Span(s, e, lex.label, entry.score, f"{source}:{entry.source}")


def _make_lexicon_rule(label: str) -> None:
    def lexicon_rule(text: str, doc: Document, lex: Lexicon) -> Iterable[Span]:
        return _lexicon_hits(text, doc, lex, f"lexicon_{label}")

    lexicon_rule.__name__ = f"lexicon_{label}"
    lexicon_rule.__doc__ = f"Terms and patterns of labels/lexicons/{label}.yaml."
    rule(label)(lexicon_rule)


for _label in ("loaded_metaphor", "loaded_language", "name_calling", "exaggeration", "inevitability",
               "speculation"):
    _make_lexicon_rule(_label)


def _clause_hits(text: str, lex: Lexicon, key: str, source: str) -> Iterator[Span]:
    """Each hit of a ``key`` pattern marks the whole clause it sits in; a clause longer than the
    lexicon's ``max_clause`` marks the hit alone."""
    max_clause = int(lex.get("max_clause", 40))
    ctx = _context(text)
    for entry in lex.compiled(key):
        for m in entry.regex.finditer(text):
            if m.end() <= m.start() or ctx.is_reported_speech(m.start(), m.end()):
                continue
            cs, ce = bounds(text, m.start())
            t = trim(text, cs, ce)
            if t is None or t[1] - t[0] > max_clause or t[1] < m.end():
                s, e = m.span()
            else:
                s, e = t
            sp = _span(text, s, e, lex.label, entry.score, source)
            if sp:
                yield sp


@rule("engagement_bait")
def engagement_call(text: str, doc: Document, lex: Lexicon) -> Iterable[Span]:
    """Calls to follow/like/share/comment/watch; the span is the clause that carries the call."""
    return _clause_hits(text, lex, "patterns", "engagement_call")


@rule("speculation")
def intent_claim(text: str, doc: Document, lex: Lexicon) -> Iterable[Span]:
    """A claim about somebody's hidden aim or inner state (意在…, 就是想…, 野心昭然若揭): the
    clause that makes it (``clause_patterns``)."""
    return _clause_hits(text, lex, "clause_patterns", "intent_claim")


_ATTRIBUTION_LEAD = re.compile(
    r"(?:(?:也|还|更|另|亦)?有|不少|一些|许多|很多|多位|多名|部分|某些|据|最新的?|最近的?|近期的?"
    r"|相关的?|有关的?|另外?|一份|一项|多项|多份|的)+$")


@rule("vague_authority")
def unnamed_attribution(text: str, doc: Document, lex: Lexicon) -> Iterable[Span]:
    """数据显示 / 专家认为 / 有分析人士指出 with no named, checkable source before it."""
    named = lex.regexes("named_source")
    lookback = int(lex.get("lookback", 16))
    extend = int(lex.get("extend", 8))
    ctx = _context(text)
    for entry in lex.compiled("attribution"):
        for m in entry.regex.finditer(text):
            s, e = m.span()
            if ctx.is_reported_speech(s, e):
                continue
            ss, _ = bounds(text, s, SENTENCE_BREAKS)
            prefix = text[max(ss, s - lookback):s]
            if any(r.search(prefix) for r in named):
                continue
            cs, _ = bounds(text, s)
            # take in the quantifier/existential before the phrase (有, 也有, 不少, 多位 …), never
            # other words that happen to share the clause
            lead = _ATTRIBUTION_LEAD.search(text, max(cs, s - extend), s)
            start = lead.start() if lead else s
            sp = _span(text, start, e, lex.label, entry.score, "unnamed_attribution")
            if sp:
                yield sp


@rule("vague_authority")
def vague_authority_phrase(text: str, doc: Document, lex: Lexicon) -> Iterable[Span]:
    """Fixed attribution phrases: 根据权威资料, 据了解, 公开资料显示, 明眼人都能看出, 网友纷纷表示…"""
    for sp in _lexicon_hits(text, doc, lex, "vague_authority_phrase"):
        t = trim(text, sp.start, sp.end)
        if t:
            yield Span(t[0], t[1], sp.label, sp.score, sp.source)


def _headline_bounds(text: str, doc: Document) -> tuple[int, int] | None:
    ts = doc.title_span
    if ts and 0 <= ts[0] < ts[1] <= len(text):
        return ts
    return None


@rule("rhetorical_question")
def question_in_own_voice(text: str, doc: Document, lex: Lexicon) -> Iterable[Span]:
    """Every sentence ending in ？/? that is not inside quotes or reported speech (D3, D4)."""
    ctx = _context(text)
    base = float(lex.score)
    head_score = float(lex.get("headline_score", base))
    strong = lex.regexes("strong_cues")
    bonus = float(lex.get("strong_bonus", 0.15))
    speech = re.compile(str(lex.get("speech_verbs", "(问|问道)")) + r"\s*[：:，,]")
    own_voice = re.compile(str(lex.get("own_voice", "(我|我们)$")))
    interview = re.compile(str(lex.get("interview_line", r"^\s*问\s*[：:]")))
    press = re.compile(str(lex.get("press_question"))) if lex.get("press_question") else None
    ascii_cue = re.compile(str(lex.get("ascii_question_cue"))) if lex.get("ascii_question_cue") else None
    window = int(lex.get("ascii_cue_window", 30))
    head = _headline_bounds(text, doc)
    for s, e in ctx.questions:
        q = e - 1  # the question mark
        if ctx.enclosing_quote(q, q + 1) is not None:
            continue  # a question inside quotes: somebody else's question
        m = speech.search(text[s:q])
        if m and not own_voice.search(text[max(s, s + m.start() - 4):s + m.start()]):
            continue  # 记者问：这项政策何时落地？ / 有网友说，…为什么？
        line_start = text.rfind("\n", 0, s) + 1
        if interview.search(text[line_start:q]):
            continue  # 问：…。中方对此有何评论？
        if press is not None and press.search(text[s:e]):
            continue  # a reporter's question: 请问…？ / 中方对此有何评论？
        if text[q] == "?" and ascii_cue is not None and not ascii_cue.search(text[max(s, q - window):q]):
            continue  # a bare "?" where scraped text lost an emoji or image
        score = head_score if head and head[0] <= s < head[1] else base
        if any(r.search(text[s:e]) for r in strong):
            score += bonus
        sp = _span(text, s, e, lex.label, score, "question_in_own_voice", keep_end="？?")
        if sp:
            yield sp


@rule("rhetorical_question")
def nandao_without_question_mark(text: str, doc: Document, lex: Lexicon) -> Iterable[Span]:
    """难道…。/！: a rhetorical question even without a question mark."""
    ctx = _context(text)
    score = float(lex.get("nandao_score", 0.7))
    for m in re.finditer("难道", text):
        _, e = bounds(text, m.start(), SENTENCE_BREAKS)
        if text[e - 1] in "？?" or ctx.enclosing_quote(m.start(), m.end()) is not None:
            continue  # handled by question_in_own_voice / quoted
        cs, _ = bounds(text, m.start())
        sp = _span(text, cs, e, lex.label, score, "nandao_without_question_mark")
        if sp:
            yield sp


@rule("engagement_bait")
def reader_question(text: str, doc: Document, lex: Lexicon) -> Iterable[Span]:
    """A question in the article's own voice that asks the readers to respond (D16, D78): an open
    question addressed to them anywhere, or a second-person yes/no question in the closing block.
    The span leaves out the trailing question mark; headline questions are left to the other
    rules (a headline teaser is not a call to respond)."""
    cfg = lex.get("reader_question")
    if not cfg:
        return
    addressee = re.compile(str(cfg["addressee"]))
    open_cue = re.compile(str(cfg["open_cue"]))
    yes_no = re.compile(str(cfg["yes_no_cue"]))
    teaser = re.compile(str(cfg["teaser"]))
    closing = len(text) - int(cfg.get("closing_chars", 400))
    max_chars = int(cfg.get("max_chars", 80))
    score = float(cfg.get("score", lex.score))
    ctx = _context(text)
    head = _headline_bounds(text, doc)
    for s, e in ctx.questions:
        if e - s > max_chars:
            continue
        if (head and head[0] <= s < head[1]) or ctx.enclosing_quote(e - 1, e) is not None:
            continue
        q = text[s:e]
        if not addressee.search(q) or teaser.search(q):
            continue
        if open_cue.search(q) or (s >= closing and yes_no.search(q)):
            sp = _span(text, s, e, lex.label, score, "reader_question")
            if sp:
                yield sp


def clickbait_cues(title: str, lex: Lexicon) -> list[tuple[str, float]]:
    """The clickbait cues (name, weight) that fire on a (simplified) headline."""
    fired = []
    for cue in lex.get("cues") or []:
        if re.search(cue["pattern"], title):
            fired.append((str(cue["name"]), float(cue["weight"])))
    return fired


def cue_probability(fired: list[tuple[str, float]]) -> float:
    """Noisy-OR of the fired cues' weights: 1 - prod(1 - w)."""
    p = 1.0
    for _, w in fired:
        p *= 1.0 - w
    return round(1.0 - p, 4)


@rule("clickbait_title")
def headline_cues(text: str, doc: Document, lex: Lexicon) -> Iterable[Span]:
    """The whole headline (D8) when its clickbait cues reach the threshold."""
    head = _headline_bounds(text, doc)
    if head is None:
        return
    p = cue_probability(clickbait_cues(text[head[0]:head[1]], lex))
    if p >= float(lex.get("threshold", 0.5)):
        sp = _span(text, head[0], head[1], lex.label, p, "headline_cues", keep_end="？?！!")
        if sp:
            yield sp


# --------------------------------------------------------------------------------------------
# Composition and the detector
# --------------------------------------------------------------------------------------------


def apply_precedence(spans: Sequence[Span], yields_to: Mapping[str, Iterable[str]]) -> list[Span]:
    """Drop a span of label A that overlaps a span of a label A yields to (``yields_to`` in A's
    lexicon): one passage, one device, where the guidelines say which one."""
    by_label: dict[str, list[Span]] = {}
    for sp in spans:
        by_label.setdefault(sp.label, []).append(sp)
    out = []
    for sp in spans:
        rivals = [o for w in yields_to.get(sp.label, ()) for o in by_label.get(w, ())]
        if not any(sp.overlaps(o) for o in rivals):
            out.append(sp)
    return out


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Same-label overlaps: keep the longer span, then the higher score, then the earlier one.
    Adjacent spans ([a,b) and [b,c)) do not overlap and are never merged."""
    by_label: dict[str, list[Span]] = {}
    for sp in spans:
        by_label.setdefault(sp.label, []).append(sp)
    out: list[Span] = []
    for group in by_label.values():
        group.sort(key=lambda x: (-(x.end - x.start), -x.score, x.start))
        kept: list[Span] = []
        for sp in group:
            if not any(sp.overlaps(k) for k in kept):
                kept.append(sp)
        out.extend(kept)
    out.sort(key=lambda x: (x.start, x.end, x.label))
    return out


class RulesDetector:
    """Implements :class:`huashu.detector.Detector` with the registered rules and the lexicons."""

    name = "rules"

    def __init__(self, lexicons: Path | str | None = None, rules: Iterable[str] | None = None) -> None:
        self.lexicon_dir = Path(lexicons) if lexicons else lexicon_dir()
        self.lexicons = load_lexicons(self.lexicon_dir)
        names = list(rules) if rules is not None else list(RULES)
        unknown = [n for n in names if n not in RULES]
        if unknown:
            raise ValueError(f"unknown rules: {', '.join(unknown)}; known: {', '.join(RULES)}")
        self.rules = [RULES[n] for n in names if RULES[n].label in self.lexicons]
        self.yields_to = {label: list(lex.get("yields_to") or []) for label, lex in self.lexicons.items()}
        self.version = self._version()

    def _version(self) -> str:
        h = hashlib.sha256()
        for lex in sorted(self.lexicons.values(), key=lambda x: x.path.name):
            h.update(lex.path.name.encode())
            h.update(lex.path.read_bytes())
        h.update(Path(__file__).read_bytes())
        h.update(",".join(r.name for r in self.rules).encode())
        return h.hexdigest()[:12]

    @property
    def id(self) -> str:
        return self.name

    def detect(self, doc: Document) -> list[Span]:
        text = to_simplified(doc.text)
        if len(text) != len(doc.text):  # the contract of to_simplified; never shift offsets
            raise RuntimeError("to_simplified changed the text length")
        spans: list[Span] = []
        for r in self.rules:
            for sp in r(text, doc, self.lexicons[r.label]):
                if 0 <= sp.start < sp.end <= len(text):
                    spans.append(sp)
        return resolve_overlaps(apply_precedence(spans, self.yields_to))

    def detect_batch(self, docs: list[Document]) -> list[list[Span]]:
        return [self.detect(doc) for doc in docs]

    def clickbait_probability(self, title: str | None) -> float | None:
        """Heuristic probability that a headline is clickbait (noisy-OR of the cues); None
        without a headline."""
        if not title or not title.strip():
            return None
        lex = self.lexicons.get("clickbait_title")
        if lex is None:
            return None
        return cue_probability(clickbait_cues(to_simplified(title.strip()), lex))

    def __repr__(self) -> str:
        return f"RulesDetector(version={self.version!r}, rules={len(self.rules)})"
