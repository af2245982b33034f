"""Request and response models of the scoring API (the OpenAPI schema at /openapi.json).

The response contract is what ``huashu.scoring.score_document`` builds (the same object
``huashu score --json`` prints); these models document it and check it, extra fields allowed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from huashu.ingest import TITLE_SOURCES, TitleSource
from huashu.taxonomy import load_taxonomy


def _check_text(value: str, field: str = "text") -> str:
    if not value.strip():
        raise ValueError(f"{field} is empty (or only whitespace): send the article's text")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValueError(f"{field} contains an unpaired UTF-16 surrogate: send valid Unicode text")
    return value


def _check_labels(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not value:
        raise ValueError("labels is an empty list: omit it to use every label")
    known = load_taxonomy().ids
    unknown = [label for label in value if label not in known]
    if unknown:
        raise ValueError(f"unknown label(s) {', '.join(map(repr, unknown))}; "
                         f"known labels: {', '.join(known)}")
    return list(dict.fromkeys(value))


Threshold = Field(
    default=None, ge=0.0, le=1.0, strict=True,
    description="Keep spans whose score is ≥ threshold (0..1). Default: the detector's own thresholds.",
)
LabelsField = Field(default=None, description="Only these label ids (labels/taxonomy.yaml). Default: all.")


class ScoreOptions(BaseModel):
    labels: list[StrictStr] | None = LabelsField
    threshold: float | None = Threshold

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str] | None) -> list[str] | None:
        return _check_labels(v)


class DocumentIn(BaseModel):
    """One article as submitted: the fields and checks /v1/score and each batch document share."""

    text: StrictStr = Field(
        description="The article: plain text, or an HTML fragment with format='html'. Span offsets "
                    "are Python code points into exactly this string.")
    title: StrictStr | None = Field(default=None, description=(
        "The headline, if separate from the text. Without it the headline is found in the text: "
        "an HTML <h1>, or a plain text's first line when it is short, followed by a blank line and "
        "does not end like a sentence (the response's headline.source says which)."))
    format: Literal["text", "html"] = "text"
    id: StrictStr | None = Field(default=None, description="Your document id, echoed back.")

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        return _check_text(v)

    @field_validator("title")
    @classmethod
    def _title(cls, v: str | None) -> str | None:
        if v is not None and any(0xD800 <= ord(c) <= 0xDFFF for c in v):
            raise ValueError("title contains an unpaired UTF-16 surrogate")
        return v


class ScoreRequest(DocumentIn, ScoreOptions):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"text": "有分析人士指出，这是一记釜底抽薪的组合拳。", "title": "中方出手了！", "format": "text"}]})


class BatchDocument(DocumentIn):
    pass


class BatchRequest(ScoreOptions):
    documents: list[BatchDocument] = Field(min_length=1,
                                           description="Up to the server's max_batch documents.")


class PredictRequest(BaseModel):
    """Label Studio's /predict call (extra fields such as params/context are accepted)."""
    model_config = ConfigDict(extra="allow")
    tasks: list[dict[str, Any]] = Field(description="Label Studio tasks: {id, data: {text, title?}}")
    label_config: StrictStr | None = None
    project: StrictStr | StrictInt | None = None


class SpanOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    start: int
    end: int
    label: str
    score: float
    text: str


class LabelSummary(BaseModel):
    model_config = ConfigDict(extra="allow")
    count: int
    per_1000_chars: float


class Headline(BaseModel):
    model_config = ConfigDict(extra="allow")
    text: str
    clickbait_probability: float | None
    source: TitleSource | None = Field(
        default=None, description="How the headline was found: " + "; ".join(
            f"{k}: {v}" for k, v in TITLE_SOURCES.items()))


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())
    id: str
    version: str


class ScoreResponse(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())
    id: str
    spans: list[SpanOut]
    summary: dict[str, LabelSummary]
    coverage: float
    article_score: float
    explanation: str
    headline: Headline | None
    model: ModelInfo
    elapsed_ms: float


class BatchResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    results: list[ScoreResponse]
    model: ModelInfo
    elapsed_ms: float


class ErrorResponse(BaseModel):
    error: str
    message: str
    detail: list[dict[str, Any]] | None = None


class LabelInfo(BaseModel):
    id: str
    zh: str
    en: str
    colour: str
    hotkey: str
    span_level: str
    definition_zh: str
    definition_en: str


class LabelsResponse(BaseModel):
    version: str
    labels: list[LabelInfo]
