"""Property tests: schemathesis against /openapi.json, hypothesis texts (Chinese, emoji, controls).

Both go through the real server; the invariant is "never a 5xx" and, for 200s, offsets that index
the submitted text.
"""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from serve_helpers import Server


def test_openapi_no_server_errors(server: Server) -> None:
    """Every operation in /openapi.json with schemathesis-generated requests (valid and invalid):
    never a 5xx. (schemathesis' pytest plugin does not support pytest 9 yet, so the operations'
    hypothesis strategies are driven directly.)"""
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/score", "/v1/score/batch", "/predict"}
    seen: dict[str, set[int]] = {}
    for operation in operations:
        strategy = st.one_of(operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                             operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))

        @given(case=strategy)
        @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=server.url, timeout=60)
            seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
            assert response.status_code < 500, (
                f"{case.method} {case.path} → {response.status_code}: {response.text[:500]}")
            case.validate_response(response, checks=[not_a_server_error])

        check()
    # the generator reached both the happy path and the validation path of the scoring endpoint
    assert {200, 422} <= seen["POST /v1/score"], seen
    print("schemathesis status codes:", {k: sorted(v) for k, v in sorted(seen.items())})


# Chinese (simplified + traditional), emoji incl. ZWJ sequences and skin tones, CJK Ext-B,
# control characters, BOM, NUL, line/paragraph separators, combining marks, full-width punctuation.
CHUNKS = [
    "有分析人士指出，", "這是一記釜底抽薪的組合拳，", "直击七寸。", "难道不是吗？", "麻烦您点击一下“关注”。",
    "😀", "👨‍👩‍👧", "👍🏽", "𠮷野家", "🇨🇳", "\u0000", "\u0007", "\u001b[31m", "\r\n", "\u2028", "\u2029",
    "\ufeff", "e\u0301", "\u200b", "　", "<b>", "&amp;", "\t", "根據權威資料", "最新数据显示", "？！",
]
texts = st.lists(st.one_of(st.sampled_from(CHUNKS), st.text(min_size=1, max_size=8)), min_size=1,
                 max_size=40).map("".join)


@given(text=texts, title=st.one_of(st.none(), texts), fmt=st.sampled_from(["text", "html"]))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_texts_no_server_errors_and_valid_offsets(client: httpx.Client, text: str,
                                                            title: str | None, fmt: str) -> None:
    payload = {"text": text, "format": fmt}
    if title is not None:
        payload["title"] = title
    try:
        body = httpx.Request("POST", "/", json=payload).content  # what any JSON client would send
    except UnicodeEncodeError:  # lone surrogates cannot be UTF-8 encoded by the client either
        return
    r = client.post("/v1/score", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["message"]
        return
    result = r.json()
    for s in result["spans"]:
        assert 0 <= s["start"] < s["end"] <= len(text), s
        assert text[s["start"]:s["end"]] == s["text"], s
