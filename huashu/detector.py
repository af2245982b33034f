"""The detector interface shared by the rules detector and the model, and how to pick one.

``load_detector(spec)``:
- ``"rules"``: the rules detector (labels/lexicons + named rule functions);
- a path to an exported model directory: the model detector, optionally with options
  ``"<dir>?precision=fp32|bf16|int8|onnx&batch_size=8&num_threads=2&sources=model"`` (``sources``:
  ``release`` = the model card's per-label choice, or ``model``/``rules``/``union`` for every label);
- ``None``/``"default"``: the committed release model if present, otherwise the rules detector;
- a Hugging Face Hub id ``owner/name`` (``@revision``; or ``hf:owner/name``) that is not a local
  path: that exported model, downloaded into the Hub cache (huashu/hub.py), with the same options.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol, runtime_checkable

from huashu.paths import default_model_dir
from huashu.spans import Document, Span

log = logging.getLogger(__name__)
MODEL_OPTIONS = ("precision", "batch_size", "num_threads", "sources")  # ModelDetector's keyword arguments


@runtime_checkable
class Detector(Protocol):
    """Finds device spans in a document. Offsets index ``doc.text`` (cleaned-text coordinates)."""

    name: str
    version: str

    def detect(self, doc: Document) -> list[Span]: ...

    def detect_batch(self, docs: list[Document]) -> list[list[Span]]: ...


class DetectorError(RuntimeError):
    """A detector could not be loaded; the message says why and what to do."""


def _is_spancat(path: Path) -> bool:
    """A span-classifier model directory (``huashu.spancat``) rather than a token tagger's."""
    import json

    try:
        meta = json.loads((path / "huashu_model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and str(meta.get("format", "")).startswith("huashu-spancat/")


def load_detector(spec: str | None = None) -> Detector:
    if spec in (None, "", "default"):
        model_dir = default_model_dir()
        if (model_dir / "huashu_model.json").exists():
            spec = str(model_dir)
        else:
            log.warning("no trained model at %s: using the rules detector", model_dir)
            spec = "rules"
    if spec == "rules":
        from huashu.rules import RulesDetector

        return RulesDetector()
    # "<model dir>?precision=bf16&batch_size=8": options for the model detector
    path_str, _, query = spec.partition("?")
    if path_str in ("", "default"):
        path_str = str(default_model_dir())
    path = Path(path_str)
    if not (path / "huashu_model.json").exists():
        from huashu.hub import HubError, hub_model_dir, looks_like_hub_id

        if not looks_like_hub_id(path_str):
            raise DetectorError(f"detector {spec!r}: not 'rules', 'default', an existing model directory "
                                "(one with huashu_model.json) or a Hub id (owner/name)")
        try:
            path = hub_model_dir(path_str)
        except HubError as e:
            local = "" if path_str.startswith("hf:") else f"no model directory {path_str} here; as a Hub id: "
            raise DetectorError(f"detector {spec!r}: {local}{e}") from None
    from huashu.inference import ModelDetector, parse_spec

    opts = parse_spec(f"{path}?{query}")[1]
    if _is_spancat(path):
        from huashu.spancat import SpanCatDetector

        cls: type = SpanCatDetector
    else:
        cls = ModelDetector
    unknown = set(opts) - set(MODEL_OPTIONS)
    if unknown:
        raise DetectorError(f"detector {spec!r}: unknown option(s) {', '.join(sorted(unknown))} "
                            f"({', '.join(MODEL_OPTIONS)})")
    try:
        return cls(path, **opts)
    except (ValueError, FileNotFoundError, ImportError) as e:
        raise DetectorError(f"detector {spec!r}: {e}") from None
