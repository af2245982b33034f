r"""The Python API: load a detector once, score articles, get typed results.

    >>> import huashu
    >>> scorer = huashu.load("rules")
    >>> text = "不想谈2件事，中方竟然大规模抛美债\n\n有分析人士指出，美国不过是帮凶。"
    >>> result = scorer.score(text)
    >>> result.headline.text, result.headline.source
    ('不想谈2件事，中方竟然大规模抛美债', 'first_line')
    >>> all(text[s.start:s.end] == s.text for s in result.spans)
    True
    >>> "有分析人士指出" in [s.text for s in result.spans if s.label == "vague_authority"]
    True
    >>> result.to_dict()["article_score"] == result.article_score
    True

:meth:`Scorer.score` and :meth:`Scorer.score_many` ingest the text exactly as the HTTP server
does (plain text or HTML, page chrome removed, the headline found) and return a :class:`Result`
whose :meth:`Result.to_dict` is the JSON object ``POST /v1/score`` returns and ``huashu score
--json`` prints (huashu/scoring.py documents it). Span offsets are Python code points into the
text you passed. Heavy libraries (torch, onnxruntime) are imported only when a model detector is
loaded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from huashu.detector import Detector
    from huashu.spans import Document
    from huashu.taxonomy import Label

log = logging.getLogger(__name__)

Format = Literal["text", "html"]


class InputError(ValueError):
    """A text, title, format or item the API cannot score; the message says what to send."""


def _known(d: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The keys of ``d`` that are not in ``keys`` (new contract fields survive a round trip)."""
    return {k: v for k, v in d.items() if k not in set(keys)}


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class DeviceSpan:
    """One device found: ``text == <your text>[start:end]`` (code points)."""

    start: int
    end: int
    label: str
    score: float
    text: str
    source: str | None = None  # which part of the detector found it ("rules", "model", …), if known
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    _KEYS = ("start", "end", "label", "score", "text", "source")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeviceSpan:
        return cls(int(d["start"]), int(d["end"]), str(d["label"]), float(d["score"]), str(d["text"]),
                   d.get("source"), _known(d, cls._KEYS))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label,
                               "score": self.score, "text": self.text}
        if self.source:
            out["source"] = self.source
        return {**out, **self.extra}


@dataclass(frozen=True)
class LabelSummary:
    count: int
    per_1000_chars: float
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LabelSummary:
        return cls(int(d["count"]), float(d["per_1000_chars"]), _known(d, ("count", "per_1000_chars")))

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "per_1000_chars": self.per_1000_chars, **self.extra}


@dataclass(frozen=True)
class Headline:
    """The article's headline and how likely it is clickbait (None: the detector cannot say)."""

    text: str
    clickbait_probability: float | None
    # how it was found: "title_field" (given), "option", "html" (<h1>), "page_rule", "first_line"
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    _KEYS = ("text", "clickbait_probability", "source")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Headline:
        p = d.get("clickbait_probability")
        return cls(str(d["text"]), None if p is None else float(p), d.get("source"), _known(d, cls._KEYS))

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "clickbait_probability": self.clickbait_probability,
                "source": self.source, **self.extra}


@dataclass(frozen=True)
class ModelInfo:
    id: str
    version: str
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelInfo:
        return cls(str(d["id"]), str(d["version"]), _known(d, ("id", "version")))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, **self.extra}


@dataclass(frozen=True)
class Result:
    """The scoring result of one article (the server's and ``huashu score --json``'s object)."""

    id: str
    spans: list[DeviceSpan]
    summary: dict[str, LabelSummary]  # every reported label, found or not
    coverage: float  # share of characters inside a span
    article_score: float  # 0..1, how heavily the article uses devices (huashu/scoring.py)
    explanation: str
    headline: Headline | None
    model: ModelInfo
    elapsed_ms: float
    chars: int
    offsets: str  # "raw": span offsets index the text you gave
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    _KEYS = ("id", "spans", "summary", "coverage", "article_score", "explanation", "headline", "model",
             "elapsed_ms", "chars", "offsets")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Result:
        head = d.get("headline")
        return cls(
            id=str(d["id"]),
            spans=[DeviceSpan.from_dict(s) for s in d["spans"]],
            summary={k: LabelSummary.from_dict(v) for k, v in d["summary"].items()},
            coverage=float(d["coverage"]), article_score=float(d["article_score"]),
            explanation=str(d["explanation"]),
            headline=Headline.from_dict(head) if head is not None else None,
            model=ModelInfo.from_dict(d["model"]), elapsed_ms=float(d["elapsed_ms"]),
            chars=int(d["chars"]), offsets=str(d.get("offsets", "raw")), extra=_known(d, cls._KEYS))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (json.dumps-able) the server returns for this article."""
        return {
            "id": self.id, "spans": [s.to_dict() for s in self.spans],
            "summary": {k: v.to_dict() for k, v in self.summary.items()},
            "coverage": self.coverage, "article_score": self.article_score, "explanation": self.explanation,
            "headline": self.headline.to_dict() if self.headline is not None else None,
            "model": self.model.to_dict(), "elapsed_ms": self.elapsed_ms, "chars": self.chars,
            "offsets": self.offsets, **self.extra,
        }

    def labels(self) -> list[str]:
        """The labels found, most frequent first."""
        found = [(v.count, k) for k, v in self.summary.items() if v.count]
        return [k for _, k in sorted(found, key=lambda x: -x[0])]


# ------------------------------------------------------------------------------------------ scoring


@dataclass(frozen=True)
class _Item:
    text: str
    title: str | None
    format: str
    id: str


def _item(text: Any, title: Any, fmt: Any, doc_id: Any, where: str = "") -> _Item:
    from huashu.scoring import default_doc_id

    if not isinstance(text, str):
        raise InputError(f"{where}text must be a str, not {type(text).__name__}")
    if not text.strip():
        raise InputError(f"{where}text is empty (or only whitespace): give the article's text")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise InputError(f"{where}text contains an unpaired UTF-16 surrogate: give valid Unicode text")
    if title is not None and not isinstance(title, str):
        raise InputError(f"{where}title must be a str or None, not {type(title).__name__}")
    if fmt not in ("text", "html"):
        raise InputError(f"{where}format {fmt!r}: expected 'text' or 'html'")
    if doc_id is not None and not isinstance(doc_id, str):
        doc_id = str(doc_id)
    return _Item(text, title, fmt, doc_id or default_doc_id(text))


def _doc(item: _Item, where: str = "") -> Document:
    from huashu.ingest import ingest_text

    try:
        return ingest_text(item.text, item.id, fmt=item.format, title=item.title,  # type: ignore[arg-type]
                           title_source="title_field")
    except ValueError as e:  # nothing left once page chrome / markup is removed
        raise InputError(f"{where}{e}") from None


class Scorer:
    """A loaded detector: score articles with it (thread-safe as far as the detector is).

    >>> scorer = huashu.load("rules")
    >>> results = scorer.score_many(["美国是帮凶吗？",
    ...                              {"text": "<h1>标题</h1><p>据了解，他们不过是帮凶。</p>",
    ...                               "format": "html", "id": "a2"}])
    >>> [r.id for r in results]
    ['sha256:dcff36ee4eacd1ca', 'a2']
    >>> results[1].headline.text, results[1].headline.source
    ('标题', 'html')
    """

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    @property
    def name(self) -> str:
        return str(self.detector.name)

    @property
    def version(self) -> str:
        return str(self.detector.version)

    def __repr__(self) -> str:
        return f"<huashu.Scorer {self.name} {self.version}>"

    def score(self, text: str, title: str | None = None, format: Format = "text", *, id: str | None = None,
              labels: Sequence[str] | None = None, threshold: float | None = None) -> Result:
        """Score one article.

        ``text``: the article, plain text or (``format="html"``) an HTML page or fragment.
        ``title``: its headline if you have it separately; otherwise it is found in the text (an
        HTML ``<h1>``, or a plain text's short first line followed by a blank line).
        ``id``: echoed back (default: ``"sha256:"`` + 16 hex digits of the text's hash).
        ``labels``/``threshold``: report only these labels / spans scoring at least this.
        Raises :class:`InputError` (bad text) or ``huashu.ScoringError`` (bad labels/threshold).
        """
        from huashu.scoring import score_document

        item = _item(text, title, format, id)
        doc = _doc(item)
        return Result.from_dict(score_document(self.detector, doc, labels=labels, threshold=threshold,
                                               raw_offsets=True, raw_text=item.text))

    def score_many(self, items: Iterable[str | Mapping[str, Any]], *, format: Format = "text",
                   labels: Sequence[str] | None = None, threshold: float | None = None,
                   batch_size: int = 16, progress: bool = False) -> list[Result]:
        """Score several articles, ``batch_size`` at a time (one ``detect_batch`` call each).

        Each item is a text, or a mapping like the server's batch documents:
        ``{"text": ..., "title": ..., "format": "text"|"html", "id": ...}`` (only text required;
        ``format`` defaults to the argument). Results come back in the same order.
        """
        from huashu.scoring import check_options, score_documents

        if batch_size < 1:
            raise InputError("batch_size must be ≥ 1")
        labels = list(labels) if labels is not None else None
        check_options(labels, threshold)  # fail before any work
        prepared: list[_Item] = []
        for i, it in enumerate(items):
            where = f"item {i}: "
            if isinstance(it, str):
                prepared.append(_item(it, None, format, None, where))
            elif isinstance(it, Mapping):
                unknown = set(it) - {"text", "title", "format", "id"}
                if unknown:
                    raise InputError(f"{where}unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                                     "(expected text, title, format, id)")
                if "text" not in it:
                    raise InputError(f"{where}has no 'text'")
                prepared.append(_item(it["text"], it.get("title"), it.get("format", format), it.get("id"),
                                      where))
            else:
                raise InputError(f"{where}expected a str or a mapping with 'text', not {type(it).__name__}")
        results: list[Result] = []
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(prepared), unit="doc", desc=f"score ({self.name})")
        try:
            for lo in range(0, len(prepared), batch_size):
                chunk = prepared[lo:lo + batch_size]
                docs = [_doc(it, f"item {lo + k}: ") for k, it in enumerate(chunk)]
                out = score_documents(self.detector, docs, labels=labels, threshold=threshold,
                                      raw_offsets=True, raw_texts=[it.text for it in chunk])
                results.extend(Result.from_dict(r) for r in out)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        return results


# ------------------------------------------------------------------------------------------ entry points


def load(detector: str | Path | Detector | None = "default") -> Scorer:
    """Load a detector once and return a :class:`Scorer`.

    ``detector``: ``"default"`` (the release model if installed, else the rules), ``"rules"``, an
    exported model directory (``"<dir>?precision=int8"`` for options), a Hugging Face Hub id
    (``"owner/name"``, downloaded into the Hub cache), or a detector object (anything with
    ``name``, ``version``, ``detect`` and ``detect_batch``). Raises ``huashu.DetectorError`` with
    a one-line reason when it cannot load.
    """
    from huashu.detector import Detector, load_detector

    if detector is None or isinstance(detector, str | Path):
        return Scorer(load_detector(str(detector) if detector is not None else None))
    if isinstance(detector, Detector):
        return Scorer(detector)
    raise TypeError(f"detector: expected a spec string, a Path or a Detector, not {type(detector).__name__}")


_default: Scorer | None = None
_default_lock = threading.Lock()


def default_scorer() -> Scorer:
    """The scorer :func:`score` and :func:`score_many` use: ``load("default")``, loaded once."""
    global _default
    with _default_lock:
        if _default is None:
            _default = load("default")
        return _default


def score(text: str, title: str | None = None, format: Format = "text", **options: Any) -> Result:
    """Score one article with the default detector (loaded on first use); see :meth:`Scorer.score`."""
    return default_scorer().score(text, title, format, **options)


def score_many(items: Iterable[str | Mapping[str, Any]], **options: Any) -> list[Result]:
    """Score several articles with the default detector; see :meth:`Scorer.score_many`."""
    return default_scorer().score_many(items, **options)


def labels() -> list[Label]:
    """The labels, in taxonomy order: ``.id``, ``.zh``, ``.en``, ``.definition_en``, ``.colour`` …
    (the whole taxonomy: ``huashu.load_taxonomy()``).

    >>> "vague_authority" in [lb.id for lb in huashu.labels()]
    True
    >>> huashu.load_taxonomy()["vague_authority"].en
    'Vague or self-certified authority'
    """
    from huashu.taxonomy import load_taxonomy

    return list(load_taxonomy().labels)
