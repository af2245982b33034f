r"""huashu (话术): find rhetorical and propaganda devices in Chinese articles.

The Python API (huashu/api.py)::

    >>> import huashu
    >>> scorer = huashu.load("rules")            # or "default", a model directory, a Hub id
    >>> text = "美国先通知中国，中方出手了\n\n据了解，美国不过是帮凶。"
    >>> result = scorer.score(text)              # a huashu.Result
    >>> result.headline.text, result.headline.source
    ('美国先通知中国，中方出手了', 'first_line')
    >>> span = next(s for s in result.spans if s.label == "vague_authority")
    >>> span.text, text[span.start:span.end]
    ('据了解', '据了解')
    >>> result.to_dict()["headline"]["source"]   # the server's / `huashu score --json` object
    'first_line'

- :func:`load` (detector) → :class:`Scorer`, with ``.score(text, title=None, format="text")`` →
  :class:`Result` and ``.score_many(texts or dicts)`` → ``list[Result]``;
- :func:`score` / :func:`score_many`: the same with the default detector, loaded once;
- :func:`labels` / :func:`load_taxonomy`: the label set (``huashu.taxonomy`` is the module);
- errors: :class:`InputError` (text), :class:`ScoringError` (labels/threshold),
  :class:`DetectorError` (a detector that cannot load), each with a one-line message.

``import huashu`` is light: the API module loads on first use of these names, and torch only
with a model detector.

The core package holds what every step shares: span and document types, the offset map,
taxonomy loading, text normalisation, ingestion, the rules detector and the detector interface.
`train/` (dataset → train → evaluate → export) and `serve/` (HTTP) build on it; `serve/`
never imports `train/`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it (imported on first access, PEP 562)
_EXPORTS: dict[str, str] = {
    "load": "huashu.api",
    "score": "huashu.api",
    "score_many": "huashu.api",
    "labels": "huashu.api",
    "Scorer": "huashu.api",
    "Result": "huashu.api",
    "DeviceSpan": "huashu.api",
    "Headline": "huashu.api",
    "LabelSummary": "huashu.api",
    "ModelInfo": "huashu.api",
    "InputError": "huashu.api",
    "ScoringError": "huashu.scoring",
    "DetectorError": "huashu.detector",
    "load_taxonomy": "huashu.taxonomy",
}
__all__ = [  # noqa: RUF022 (grouped as in _EXPORTS)
    "__version__", "load", "score", "score_many", "labels", "Scorer", "Result", "DeviceSpan", "Headline",
    "LabelSummary", "ModelInfo", "InputError", "ScoringError", "DetectorError", "load_taxonomy",
]

if TYPE_CHECKING:
    from huashu.api import (
        DeviceSpan,
        Headline,
        InputError,
        LabelSummary,
        ModelInfo,
        Result,
        Scorer,
        labels,
        load,
        score,
        score_many,
    )
    from huashu.detector import DetectorError
    from huashu.scoring import ScoringError
    from huashu.taxonomy import load_taxonomy


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'huashu' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
