"""The Python API's Result.to_dict() is the object a real `huashu serve` returns (issue 16 §1),
and the server says how it found a headline (headline.source, in the OpenAPI schema too)."""

from __future__ import annotations

import httpx
import pytest

import huashu
from huashu.ingest import TITLE_SOURCES

FIRST_LINE = "不想谈2件事，中方大规模抛美债\n\n有分析人士指出，这是一记釜底抽薪的组合拳。美国是帮凶吗？😀𠮷"
DOCS = [
    {"text": FIRST_LINE},
    {"text": "有分析人士指出，这是一记釜底抽薪的组合拳。", "title": "震惊！中方出手了", "id": "t"},
    {"text": "<html><body><h1>为何他竟然这样做？</h1><p>𠮷&amp;😀 据了解，他们不过是<b>帮凶</b>。</p>"
             "</body></html>", "format": "html"},
    {"text": "第一段是一句话。\n\n据了解，美国是帮凶。"},
]


def without_time(d: dict) -> dict:
    return {**d, "elapsed_ms": 0}


@pytest.fixture(scope="module")
def scorer() -> huashu.Scorer:
    return huashu.load("rules")  # the server fixture runs `huashu serve --detector rules`


@pytest.mark.parametrize("doc", DOCS, ids=["first_line", "title_field", "html", "no_headline"])
def test_score_equals_the_server_response(client: httpx.Client, scorer: huashu.Scorer, doc: dict) -> None:
    r = client.post("/v1/score", json=doc)
    assert r.status_code == 200, r.text
    got = scorer.score(doc["text"], doc.get("title"), doc.get("format", "text"), id=doc.get("id"))
    assert without_time(got.to_dict()) == without_time(r.json())
    assert huashu.Result.from_dict(r.json()).to_dict() == r.json()


def test_score_many_equals_the_batch_response(client: httpx.Client, scorer: huashu.Scorer) -> None:
    labels = ["vague_authority", "clickbait_title"]
    r = client.post("/v1/score/batch", json={"documents": DOCS, "labels": labels})
    assert r.status_code == 200, r.text
    got = scorer.score_many(DOCS, labels=labels)
    assert [without_time(g.to_dict()) for g in got] == [without_time(x) for x in r.json()["results"]]


def test_headline_source_in_responses_and_schema(client: httpx.Client) -> None:
    sources = [client.post("/v1/score", json=d).json()["headline"] for d in DOCS]
    assert [h and h["source"] for h in sources] == ["first_line", "title_field", "html", None]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Headline"]
    prop = schema["properties"]["source"]
    enum = next(x["enum"] for x in prop["anyOf"] if "enum" in x)
    assert sorted(enum) == sorted(TITLE_SOURCES)
    assert "first_line" in prop["description"]
