"""The highlight page in a real headless Chromium (selenium + /usr/bin/chromedriver).

Pastes a seed article (traditional characters, with 😀 and 𠮷 put in front so UTF-16 and
code-point offsets differ), clicks Score, and checks that every highlighted segment's
data-start/data-end/data-labels match the API's answer for the same text, and that its visible
text is exactly text[start:end]. Saves a screenshot to artifacts/serve/.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import httpx
import pytest
from serve_helpers import Server

CHROMIUM = os.environ.get("HUASHU_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HUASHU_CHROMEDRIVER", "/usr/bin/chromedriver")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                       reason="needs Debian chromium + chromium-driver (`make browser`)"),
]


def expected_segments(spans: list[dict], n: int, order: list[str]) -> list[tuple[int, int, str]]:
    """The page's segmentation, computed independently: cut at every span boundary; a segment is
    highlighted with every label of the spans covering it (taxonomy order)."""
    cuts = sorted({0, n, *(s["start"] for s in spans), *(s["end"] for s in spans)})
    out = []
    for a, b in itertools.pairwise(cuts):
        labels = {s["label"] for s in spans if s["start"] <= a and s["end"] >= b}
        if labels:
            out.append((a, b, " ".join(sorted(labels, key=order.index))))
    return out


@pytest.fixture
def browser(open_chromium):  # type: ignore[no-untyped-def]
    with open_chromium() as driver:
        yield driver


def test_page_highlights_match_the_api(server: Server, browser, seed_texts: list[str],  # type: ignore[no-untyped-def]
                                       artifacts_dir: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    # traditional article, astral characters first, and a question with a metaphor inside (overlap)
    text = "😀𠮷 它究竟是巧合，还是一记精准命中“七寸”的釜底抽薪？\n" + seed_texts[0]
    title = "美國先通知中國，不想談2件事，中方大規模拋美債？"
    api = httpx.post(server.url + "/v1/score", json={"text": text, "title": title}, timeout=60).json()
    order = [lb["id"] for lb in httpx.get(server.url + "/v1/labels").json()["labels"]]
    assert api["spans"]

    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#legend .chip")))
    legend = browser.find_elements(By.CSS_SELECTOR, "#legend .chip")
    assert [c.get_attribute("data-label") for c in legend] == order
    # "paste" the article: set the textarea's value (send_keys cannot type astral characters)
    browser.execute_script("document.getElementById('text').value = arguments[0];"
                           "document.getElementById('title').value = arguments[1];", text, title)
    browser.find_element(By.ID, "score").click()
    wait.until(lambda d: d.execute_script("return document.body.dataset.scored === '1'"))

    dom = browser.execute_script("""
        return Array.from(document.querySelectorAll('#article mark.seg')).map(m => [
            Number(m.dataset.start), Number(m.dataset.end), m.dataset.labels, m.textContent,
            getComputedStyle(m).backgroundColor, m.getAttribute('aria-label')]);""")
    got = [(a, b, labels) for a, b, labels, *_ in dom]
    assert got == expected_segments(api["spans"], len(text), order)
    assert any(" " in labels for _, _, labels in got), "an overlap shows as a segment with two labels"
    for a, b, _labels, seg_text, background, aria in dom:
        assert seg_text == text[a:b], (a, b, seg_text)
        assert background not in ("rgba(0, 0, 0, 0)", "transparent")
        assert "%" in aria
    # the whole article is on the page, in order, nothing lost or duplicated
    assert browser.execute_script("return document.getElementById('article').textContent") == text

    # summary, scores, headline
    rows = browser.find_elements(By.CSS_SELECTOR, "#summary tbody tr[data-label]")
    shown = {r.get_attribute("data-label"): int(r.find_elements(By.CSS_SELECTOR, "td.num")[0].text)
             for r in rows}
    assert shown == {k: v["count"] for k, v in api["summary"].items() if v["count"]}
    assert browser.find_element(By.ID, "article-score").text == f"{api['article_score']:.2f}"
    assert browser.find_element(By.ID, "headline-box").is_displayed()

    # tooltip on hover names the label in Chinese with its confidence
    from selenium.webdriver.common.action_chains import ActionChains

    first = browser.find_element(By.CSS_SELECTOR, "#article mark.seg")
    ActionChains(browser).move_to_element(first).perform()
    tip = browser.find_element(By.ID, "tip")
    wait.until(lambda d: tip.is_displayed())
    zh = {lb["id"]: lb["zh"] for lb in httpx.get(server.url + "/v1/labels").json()["labels"]}
    first_label = first.get_attribute("data-labels").split()[0]
    assert zh[first_label] in tip.text and "%" in tip.text

    path = artifacts_dir / "highlight.png"
    browser.save_screenshot(str(path))
    (artifacts_dir / "highlight-api.json").write_text(json.dumps(api, ensure_ascii=False, indent=1))
    assert path.stat().st_size > 10_000


def test_page_shows_api_errors(server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url + "/")
    browser.find_element(By.ID, "score").click()  # empty textarea
    status = browser.find_element(By.ID, "status")
    WebDriverWait(browser, 20).until(lambda d: "422" in status.text)
    assert "empty" in status.text
