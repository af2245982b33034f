"""The scoring API through a real uvicorn server on loopback: contract, offsets, bad input, limits."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from serve_helpers import HUASHU, REPO, Server, running_server

from huashu.taxonomy import load_taxonomy

CONTRACT = {"id", "spans", "summary", "coverage", "article_score", "explanation", "headline", "model",
            "elapsed_ms"}
# emoji and 𠮷 (both outside the BMP: 2 UTF-16 units, 1 code point) before the devices, traditional text
TRICKY = ("😀😀𠮷 開場白。\n有分析人士指出，這是一記釜底抽薪的組合拳，直擊七寸。"
          "難道這是巧合嗎？😀 根據權威資料，結合個人觀點撰寫。")


# a long article with no page chrome (ingest would drop everything after a "related articles" block)
PARAGRAPH = "今年的经济数据与去年大体持平，多个部门发布了例行报告。" * 12 + TRICKY + "\n"
LONG = PARAGRAPH * (150_000 // len(PARAGRAPH))


def assert_offsets(text: str, spans: list[dict]) -> None:
    for s in spans:
        assert 0 <= s["start"] < s["end"] <= len(text), s
        assert text[s["start"]:s["end"]] == s["text"], s


def test_health_ready_and_labels(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model"]["id"] == "rules"
    labels = client.get("/v1/labels").json()
    tax = load_taxonomy()
    assert [lb["id"] for lb in labels["labels"]] == tax.ids
    assert {lb["id"]: lb["colour"] for lb in labels["labels"]} == tax.colours
    assert all(lb["zh"] for lb in labels["labels"])


def test_contract_on_seed_article(client: httpx.Client, seed_texts: list[str]) -> None:
    text = seed_texts[0]
    r = client.post("/v1/score", json={"text": text, "title": "美國先通知中國，中方出手了！", "id": "seed-0"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert CONTRACT <= body.keys()
    assert body["id"] == "seed-0"
    assert body["model"]["id"] == "rules" and body["model"]["version"]
    assert body["spans"], "the seed article has devices the rules detector finds"
    assert_offsets(text, body["spans"])
    assert {s["label"] for s in body["spans"]} <= set(load_taxonomy().ids)
    for s in body["spans"]:
        assert 0.0 <= s["score"] <= 1.0
    counts = {lab: v["count"] for lab, v in body["summary"].items()}
    assert sum(counts.values()) == len(body["spans"])
    assert 0.0 < body["coverage"] <= 1.0 and 0.0 < body["article_score"] <= 1.0
    assert body["explanation"]
    assert body["headline"]["text"] == "美國先通知中國，中方出手了！"
    assert 0.0 <= body["headline"]["clickbait_probability"] <= 1.0
    assert body["elapsed_ms"] >= 0


def test_offsets_emoji_cjk_ext_b_and_traditional(client: httpx.Client) -> None:
    body = client.post("/v1/score", json={"text": TRICKY}).json()
    assert_offsets(TRICKY, body["spans"])
    by_text = {s["text"]: s for s in body["spans"]}
    # code points, not UTF-16 units: 釜底抽薪 is at the same index Python gives
    assert by_text["釜底抽薪"]["start"] == TRICKY.index("釜底抽薪")
    assert by_text["七寸"]["start"] == TRICKY.index("七寸")
    assert any(s["start"] > TRICKY.index("😀 根據") for s in body["spans"])


def test_html_offsets_point_into_the_submitted_html(client: httpx.Client) -> None:
    html = ("<article><h1>中方出手了</h1><p>😀 有分析人士指出&amp;，這是一記<b>釜底</b>抽薪。</p>"
            "<p>𠮷 難道這是巧合嗎？</p></article>")
    body = client.post("/v1/score", json={"text": html, "format": "html"}).json()
    assert body["spans"]
    assert_offsets(html, body["spans"])
    metaphor = next(s for s in body["spans"] if s["label"] == "loaded_metaphor")
    assert html[metaphor["start"]:metaphor["end"]] == "釜底</b>抽薪"


def test_labels_and_threshold_filter(client: httpx.Client) -> None:
    all_spans = client.post("/v1/score", json={"text": TRICKY}).json()["spans"]
    only = client.post("/v1/score", json={"text": TRICKY, "labels": ["loaded_metaphor"]}).json()
    assert only["spans"] and {s["label"] for s in only["spans"]} == {"loaded_metaphor"}
    assert len(only["spans"]) == sum(s["label"] == "loaded_metaphor" for s in all_spans)
    high = client.post("/v1/score", json={"text": TRICKY, "threshold": 0.8}).json()["spans"]
    assert all(s["score"] >= 0.8 for s in high)
    assert len(high) == sum(s["score"] >= 0.8 for s in all_spans)


def test_batch(client: httpx.Client, seed_texts: list[str]) -> None:
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(seed_texts)] + [{"text": TRICKY}]
    r = client.post("/v1/score/batch", json={"documents": docs})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["id"] for x in results[:5]] == ["d0", "d1", "d2", "d3", "d4"]
    for doc, res in zip(docs, results, strict=True):
        assert CONTRACT <= res.keys()
        assert_offsets(doc["text"], res["spans"])
    single = client.post("/v1/score", json={"text": seed_texts[2]}).json()
    assert [(s["start"], s["end"], s["label"]) for s in results[2]["spans"]] == \
        [(s["start"], s["end"], s["label"]) for s in single["spans"]]


def test_long_article_scored_whole(client: httpx.Client) -> None:
    text = LONG
    assert 100_000 < len(text) <= 200_000
    body = client.post("/v1/score", json={"text": text}).json()
    assert_offsets(text, body["spans"])
    assert max(s["end"] for s in body["spans"]) > len(text) - 5_000, "devices near the end are found"


BAD_BODIES = [
    pytest.param(b"{not json", "application/json", 400, "not valid JSON", id="bad-json"),
    pytest.param(b'{"text": "\xff\xfe abc"}', "application/json", 400, "UTF-8", id="bad-utf8"),
    pytest.param(b'{"text": ""}', "application/json", 422, "text is empty", id="empty-text"),
    pytest.param(b'{"text": " \\n\\t "}', "application/json", 422, "empty", id="whitespace-text"),
    pytest.param(b'{"title": "x"}', "application/json", 422, "text: is required", id="missing-text"),
    pytest.param(b'{"text": 42}', "application/json", 422, "valid string", id="text-not-string"),
    pytest.param(b'["text"]', "application/json", 422, "body", id="body-not-object"),
    pytest.param(b'{"text": "abc", "labels": ["propaganda"]}', "application/json", 422, "unknown label",
                 id="unknown-label"),
    pytest.param(b'{"text": "abc", "labels": "loaded_metaphor"}', "application/json", 422, "labels",
                 id="labels-not-list"),
    pytest.param(b'{"text": "abc", "labels": []}', "application/json", 422, "empty list", id="labels-empty"),
    pytest.param(b'{"text": "abc", "threshold": 1.5}', "application/json", 422, "threshold",
                 id="threshold-high"),
    pytest.param(b'{"text": "abc", "threshold": -0.1}', "application/json", 422, "threshold",
                 id="threshold-low"),
    pytest.param(b'{"text": "abc", "threshold": "0.5"}', "application/json", 422, "threshold",
                 id="threshold-string"),
    pytest.param(b'{"text": "abc", "format": "pdf"}', "application/json", 422, "format", id="bad-format"),
    pytest.param(b'{"text": "\\ud800abc"}', "application/json", 422, "text", id="lone-surrogate"),
    pytest.param(b'{"text": "<p> </p>", "format": "html"}', "application/json", 422, "no article text",
                 id="html-without-text"),
    pytest.param(b'{"text": "abc"}', "text/plain", 422, "Content-Type: application/json", id="not-json-type"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "message"), BAD_BODIES)
def test_bad_input_gets_a_clear_error(client: httpx.Client, body: bytes, content_type: str, status: int,
                                      message: str) -> None:
    r = client.post("/v1/score", content=body, headers={"content-type": content_type})
    assert r.status_code == status, r.text
    err = r.json()
    assert err["error"] and message in err["message"], err
    assert "Traceback" not in r.text


def test_size_limits_413(client: httpx.Client) -> None:
    r = client.post("/v1/score", json={"text": "话" * 200_001})
    assert r.status_code == 413 and "200,000" in r.json()["message"]
    ok = client.post("/v1/score", json={"text": "话" * 200_000})
    assert ok.status_code == 200
    r = client.post("/v1/score/batch", json={"documents": [{"text": "话"}] * 33})
    assert r.status_code == 413 and "32" in r.json()["message"]
    r = client.post("/v1/score/batch", json={"documents": [{"text": "话"}, {"text": "话" * 200_001}]})
    assert r.status_code == 413 and "documents[1]" in r.json()["message"]


def test_unknown_route_and_method_are_json(client: httpx.Client) -> None:
    r = client.get("/v2/nothing")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.get("/v1/score")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_metrics(client: httpx.Client) -> None:
    def chars_scored() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith("huashu_chars_scored_total "):
                return float(line.split()[1])
        raise AssertionError("huashu_chars_scored_total missing")

    before = chars_scored()
    client.post("/v1/score", json={"text": TRICKY})
    client.post("/v1/score", json={"text": ""})
    text = client.get("/metrics").text
    assert chars_scored() == before + len(TRICKY)
    assert 'huashu_http_requests_total{method="POST",route="/v1/score",status="200"}' in text
    assert 'huashu_http_requests_total{method="POST",route="/v1/score",status="422"}' in text
    assert 'huashu_http_request_duration_seconds_bucket{le="0.15",method="POST",route="/v1/score"}' in text


def test_docs_and_openapi(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/score", "/v1/score/batch", "/v1/labels", "/predict"} <= paths.keys()


def test_page_is_self_contained(client: httpx.Client) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "http://" not in r.text and "https://" not in r.text, "the page must load nothing external"


# ----------------------------------------------------------------------------- Label Studio ML backend


def test_ml_backend_predict_shape(client: httpx.Client) -> None:
    long_text = ("平常的一句话。" * 3000) + "有分析人士指出，这是釜底抽薪。"  # ~21,000 chars: no truncation
    adjacent = "这是釜底抽薪组合拳。"  # two loaded metaphors back to back: never merged
    tasks = [{"id": 1, "data": {"text": TRICKY}}, {"id": 2, "data": {"text": long_text}},
             {"id": 3, "data": {"text": adjacent}}]
    r = client.post("/predict", json={"tasks": tasks, "project": "1.1"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 3
    for task, pred in zip(tasks, results, strict=True):
        assert pred["model_version"].startswith("rules")
        assert isinstance(pred["score"], float)
        text = task["data"]["text"]
        for item in pred["result"]:
            assert item["from_name"] == "label" and item["to_name"] == "text" and item["type"] == "labels"
            v = item["value"]
            assert text[v["start"]:v["end"]] == v["text"]
            assert len(v["labels"]) == 1 and 0 <= item["score"] <= 1
    assert any(it["value"]["start"] >= 21_000 for it in results[1]["result"]), "end of long text scored"
    metaphors = sorted((it["value"]["start"], it["value"]["end"]) for it in results[2]["result"]
                       if it["value"]["labels"] == ["loaded_metaphor"])
    assert metaphors == [(2, 6), (6, 9)]


def test_ml_backend_names_from_label_config(client: httpx.Client) -> None:
    config = ('<View><Text name="article" value="$body"/><Labels name="device" toName="article">'
              '<Label value="loaded_metaphor"/></Labels></View>')
    r = client.post("/predict", json={"tasks": [{"id": 7, "data": {"body": TRICKY}}], "label_config": config})
    assert r.status_code == 200, r.text
    items = r.json()["results"][0]["result"]
    assert items and {(i["from_name"], i["to_name"]) for i in items} == {("device", "article")}
    r = client.post("/predict", json={"tasks": [{"id": 8, "data": {}}]})
    assert r.status_code == 422 and "tasks[0]" in r.json()["message"]


def test_ml_backend_health_setup_webhook(client: httpx.Client) -> None:
    assert client.get("/health").json()["status"] == "UP"
    r = client.post("/setup", json={"project": "1.1", "schema": "<View/>"})
    assert r.status_code == 200 and r.json()["model_version"].startswith("rules")
    r = client.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": {"id": 1}})
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = client.post("/webhook", content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 400


# ----------------------------------------------------------------------------- overload, timeout, shutdown


def test_overload_gets_503_with_retry_after(tmp_path: Path) -> None:
    text = LONG  # ~150,000 chars, ~1 s of rules work
    with running_server(tmp_path, "--detector", "rules", "--max-concurrency", "2", "--queue", "0") as s:
        def post(_: int) -> httpx.Response:
            return httpx.post(s.url + "/v1/score", json={"text": text}, timeout=120)

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(post, range(12)))
        codes = sorted(r.status_code for r in responses)
        assert set(codes) == {200, 503}, codes
        assert codes.count(200) >= 2
        busy = [r for r in responses if r.status_code == 503]
        assert all(r.headers.get("retry-after") == "1" and r.json()["error"] == "overloaded" for r in busy)
        # nothing hangs, the server is fine afterwards
        assert httpx.post(s.url + "/v1/score", json={"text": TRICKY}).status_code == 200
        metrics = httpx.get(s.url + "/metrics").text
        assert f'huashu_rejected_total{{reason="overloaded"}} {len(busy)}.0' in metrics


def test_timeout_gets_504(tmp_path: Path) -> None:
    text = LONG
    with running_server(tmp_path, "--detector", "rules", "--timeout", "0.05") as s:
        r = httpx.post(s.url + "/v1/score", json={"text": text}, timeout=60)
        assert r.status_code == 504 and r.json()["error"] == "timeout"
        assert httpx.get(s.url + "/healthz").status_code == 200


def test_graceful_shutdown_finishes_in_flight_request(tmp_path: Path) -> None:
    text = LONG
    with running_server(tmp_path, "--detector", "rules") as s:
        result: dict[str, httpx.Response] = {}

        def post() -> None:
            result["r"] = httpx.post(s.url + "/v1/score", json={"text": text}, timeout=60)

        t = threading.Thread(target=post)
        t.start()
        time.sleep(0.4)  # the request is being scored (rules: ~1 s for this text)
        s.proc.send_signal(signal.SIGTERM)
        t.join(60)
        # uvicorn re-raises the signal once it has shut down gracefully
        assert s.proc.wait(30) in (0, -signal.SIGTERM)
        assert "Finished server process" in s.log()
        assert result["r"].status_code == 200 and result["r"].json()["spans"]


def test_serve_cli_rejects_missing_model(tmp_path) -> None:
    r = subprocess.run([*HUASHU, "serve", "--detector", str(tmp_path / "nope")],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "not 'rules', 'default', an existing model directory" in r.stderr
    assert "Traceback" not in r.stderr


def test_error_responses_are_valid_json(server: Server) -> None:
    r = httpx.post(server.url + "/v1/score", content=b"\x00\x01",
                   headers={"content-type": "application/json"})
    assert r.status_code == 400
    json.loads(r.text)


def test_serve_never_imports_train() -> None:
    offenders = [p.name for p in (REPO / "serve").rglob("*.py")
                 if any(line.lstrip().startswith(("import train", "from train"))
                        for line in p.read_text(encoding="utf-8").splitlines())]
    assert not offenders


def test_several_workers_share_metrics(tmp_path: Path) -> None:
    with running_server(tmp_path, "--detector", "rules", "--workers", "2") as s:
        for _ in range(6):
            assert httpx.post(s.url + "/v1/score", json={"text": TRICKY}, timeout=60).status_code == 200
        metrics = httpx.get(s.url + "/metrics").text
        key = 'huashu_http_requests_total{method="POST",route="/v1/score",status="200"}'
        line = next(x for x in metrics.splitlines() if x.startswith(key))
        assert float(line.split()[-1]) == 6.0  # summed over both worker processes


def test_settings_precedence_and_errors() -> None:
    from huashu.serve.settings import Settings, SettingsError

    env = {"HUASHU_PORT": "9001", "HUASHU_MAX_CHARS": "500", "HUASHU_TIMEOUT": "2.5", "HUASHU_MODEL": "rules"}
    s = Settings.from_env(env, port=9002)  # a flag beats the environment
    assert (s.port, s.max_chars, s.timeout, s.model) == (9002, 500, 2.5, "rules")
    assert Settings.from_env(s.to_env()) == s  # what several workers rebuild
    with pytest.raises(SettingsError, match="HUASHU_QUEUE"):
        Settings.from_env({"HUASHU_QUEUE": "lots"})
    r = subprocess.run([*HUASHU, "serve", "--max-concurrency", "0"], cwd=REPO, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "max_concurrency must be ≥ 1" in r.stderr
