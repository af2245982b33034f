"""A real headless Chromium on the LS labelling page: logged in through the form, the Chinese
text and every taxonomy label are in the DOM, a screenshot is saved, and a span drawn in the UI
after 😀 and 𠮷 comes back from `studio pull` with code-point offsets."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from huashu.annotations import read_records
from huashu.ingest import ingest_file
from huashu.studio.server import Credentials
from huashu.taxonomy import load_taxonomy

from .conftest import huashu

pytestmark = [pytest.mark.studio, pytest.mark.browser]

CORPUS = "browsertest"
ARTICLE = (
    "美國國債遭拋售？\n"
    "麻烦您点击一下“关注”😀，每天为您带来新鲜资讯！\n"
    "根據權威資料，結合個人觀點撰寫：𠮷野家的老闆說，這是一記釜底抽薪。\n"
)
TARGET = "釜底抽薪"


@pytest.fixture(scope="module")
def driver(open_chromium):
    with open_chromium() as drv:
        yield drv


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    path = Path(os.environ.get("HUASHU_ARTIFACTS_DIR") or tmp_path_factory.mktemp("artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser_task(studio_dir, studio, tmp_path_factory):
    d = tmp_path_factory.mktemp("browserdocs")
    path = d / "browser_article.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    run = huashu("studio", "push", str(path), "--corpus", CORPUS, "--detector", "none",
                 "--data-dir", str(studio_dir[0]))
    assert run.returncode == 0, run.stderr
    [doc] = ingest_file(path)
    [task] = [t for t in studio.ls.tasks.list(project=studio.project_id(), fields="all")
              if t.data["doc_id"] == doc.id]
    return doc, task


def test_labelling_page_in_chromium(driver, studio_dir, studio, server_state, browser_task, artifacts,
                                    tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    doc, task = browser_task
    creds = Credentials.load(studio_dir[0])
    driver.get(f"{server_state.url}/user/login/")
    driver.find_element(By.NAME, "email").send_keys(creds.email)
    driver.find_element(By.NAME, "password").send_keys(creds.password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: "/user/login" not in d.current_url)

    driver.get(f"{server_state.url}/projects/{studio.project_id()}/data?task={task.id}")
    WebDriverWait(driver, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".lsf-richtext__line"))
    time.sleep(1)
    shown = driver.execute_script(
        "return document.querySelector('.lsf-richtext__container').innerText")
    for line in doc.text.strip().splitlines():
        assert line in shown, f"{line!r} not rendered"
    headers = driver.execute_script(
        "return Array.from(document.querySelectorAll('.lsf-main-view__annotation h3, "
        ".lsf-main-view__annotation h4, .lsf-main-view__annotation h6')).map(h => h.innerText)")
    assert task.data["title"] in headers  # the $title Header shows the title, never the task JSON
    label_texts = {e.text.strip() for e in driver.find_elements(By.CSS_SELECTOR, ".lsf-label__text")}
    assert set(load_taxonomy().ids) <= label_texts
    shot = artifacts / "ls_labelling_page.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")

    # draw a span: pick the label, select the characters after 😀 and 𠮷, submit
    [label] = [e for e in driver.find_elements(By.CSS_SELECTOR, ".lsf-label")
               if e.text.strip().startswith("loaded_metaphor")]
    label.click()
    rect = driver.execute_script("""
        const target = arguments[0];
        for (const line of document.querySelectorAll('.lsf-richtext__line')) {
          const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
          let n;
          while ((n = walker.nextNode())) {
            const i = n.nodeValue.indexOf(target);
            if (i >= 0) {
              const range = document.createRange();
              range.setStart(n, i); range.setEnd(n, i + target.length);
              const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
              const width = range.getBoundingClientRect().width;
              const container = document.querySelector('.lsf-richtext__container');
              container.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
              return width;
            }
          }
        }
        return null;""", TARGET)
    assert rect, "target text not found in the page"
    WebDriverWait(driver, 10).until(
        lambda d: TARGET in d.execute_script(
            "return document.querySelector('.lsf-sidepanels, body').innerText"))
    driver.find_element(By.CSS_SELECTOR, 'button[aria-label="Submit current annotation"]').click()
    WebDriverWait(driver, 30).until(lambda d: studio.ls.annotations.list(id=task.id))
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".lsf-richtext__line"))
    time.sleep(1)
    driver.save_screenshot(str(artifacts / "ls_span_submitted.png"))

    store = tmp_path / "store"
    run = huashu("studio", "pull", "--annotations-dir", str(store), "--data-dir", str(studio_dir[0]))
    assert run.returncode == 0, run.stderr
    [rec] = [r for r in read_records(store / f"{CORPUS}.jsonl") if r.doc_id == doc.id]
    assert rec.annotator == creds.email
    [span] = rec.spans
    expected = doc.text.index(TARGET)
    assert (span.start, span.end, span.label) == (expected, expected + len(TARGET), "loaded_metaphor")
    assert doc.text[span.start:span.end] == TARGET
    # code points, not UTF-16 units: 😀 and 𠮷 before the span are two units each in UTF-16
    utf16_start = len(doc.text[:expected].encode("utf-16-le")) // 2
    assert utf16_start == expected + 2 and span.start != utf16_start
    (artifacts / "ls_span.json").write_text(json.dumps(rec.to_dict(), ensure_ascii=False, indent=2))
    # LS 1.23 resolves a Header value="$source" to the whole task JSON ("source" is reserved):
    # the generated config shows "$origin" instead, and no header may dump the task data
    dumped = [h for h in headers if '"sha256"' in h]
    assert not dumped, dumped
