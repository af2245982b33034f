"""The model-in-the-loop half against the real server: `studio annotate` (annotator agents),
`studio next` (active learning) and the ML backend (LS calling the scoring server's /predict)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from huashu.annotations import read_records
from huashu.ingest import ingest_file
from huashu.studio.server import free_port

from .conftest import REPO, huashu, write_hancd_like

pytestmark = pytest.mark.studio

CORPUS = "looptest"
ARTICLE = (
    "他们真的慌了吗？\n"
    "有分析人士指出，这一招可谓釜底抽薪😀，而另一招也是釜底抽薪。\n"
    "據了解，𠮷田先生表示：「這不過是掩耳盜鈴」。\n"
)


@pytest.fixture(scope="module")
def loop_doc(tmp_path_factory, studio_dir):
    d = tmp_path_factory.mktemp("loopdocs")
    path = d / "loop_article.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    run = huashu("studio", "push", str(path), "--corpus", CORPUS, "--data-dir", str(studio_dir[0]))
    assert run.returncode == 0, run.stdout + run.stderr
    [doc] = ingest_file(path)
    return doc


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_annotate_as_named_user_with_quotes(loop_doc, studio_dir, studio, tmp_path):
    sdir = str(studio_dir[0])
    user = "agent.c@example.com"
    # the quote 釜底抽薪 occurs twice: ambiguous without context → nothing created
    bad = _write(tmp_path / "bad.jsonl", [{"doc_id": loop_doc.id, "spans": [
        {"label": "loaded_metaphor", "quote": "釜底抽薪"},
        {"label": "vague_authority", "quote": "专家认为"}]}])
    run = huashu("studio", "annotate", "--user", user, "--file", str(bad), "--data-dir", sdir)
    assert run.returncode == 2
    assert "ambiguous (2 places" in run.stderr and "'专家认为' not found" in run.stderr
    assert "no annotation created" in run.stderr
    assert user not in {u.email for u in studio.ls.users.list()}

    good = _write(tmp_path / "good.jsonl", [{"doc_id": loop_doc.id, "spans": [
        {"label": "loaded_metaphor", "quote": "釜底抽薪", "suffix": "😀"},
        {"label": "vague_authority", "quote": "有分析人士指出"},
        {"label": "loaded_metaphor", "quote": "掩耳盜鈴", "prefix": "這不過是"},
        {"label": "vague_authority", "start": loop_doc.text.index("據了解"),
         "end": loop_doc.text.index("據了解") + 3}]}])
    run = huashu("studio", "annotate", "--user", user, "--file", str(good), "--data-dir", sdir)
    assert run.returncode == 0, run.stderr
    assert "1 annotation(s) created" in run.stdout
    users = {u.email: u.id for u in studio.ls.users.list()}
    assert user in users
    # the user was signed up properly: member of the organisation, password stored privately
    stored = json.loads((studio_dir[0] / "users.json").read_text())
    assert stored[user]["id"] == users[user]
    assert oct((studio_dir[0] / "users.json").stat().st_mode & 0o777) == "0o600"

    again = huashu("studio", "annotate", "--user", user, "--file", str(good), "--data-dir", sdir)
    assert again.returncode == 2 and "already has annotations" in again.stderr and "--replace" in again.stderr

    store = tmp_path / "store"
    run = huashu("studio", "pull", "--annotations-dir", str(store), "--data-dir", sdir)
    assert run.returncode == 0, run.stderr
    [rec] = [r for r in read_records(store / f"{CORPUS}.jsonl") if r.annotator == user]
    text = loop_doc.text
    got = sorted((s.label, s.start, text[s.start:s.end]) for s in rec.spans)
    first = text.index("釜底抽薪")
    assert got == sorted([("loaded_metaphor", first, "釜底抽薪"),
                          ("vague_authority", text.index("有分析人士指出"), "有分析人士指出"),
                          ("loaded_metaphor", text.index("掩耳盜鈴"), "掩耳盜鈴"),
                          ("vague_authority", text.index("據了解"), "據了解")])

    # --replace: the annotation is updated in LS and the next pull keeps the old spans in history
    second = text.index("釜底抽薪", first + 1)
    repl = _write(tmp_path / "repl.jsonl", [{"doc_id": loop_doc.id, "spans": [
        {"label": "loaded_metaphor", "start": second, "end": second + 4}]}])
    run = huashu("studio", "annotate", "--user", user, "--file", str(repl), "--replace", "--data-dir", sdir)
    assert run.returncode == 0 and "1 replaced" in run.stdout, run.stderr
    run = huashu("studio", "pull", "--annotations-dir", str(store), "--data-dir", sdir)
    assert run.returncode == 0 and "1 changed" in run.stdout, run.stdout + run.stderr
    [rec] = [r for r in read_records(store / f"{CORPUS}.jsonl") if r.annotator == user]
    assert [(s.start, text[s.start:s.end]) for s in rec.spans] == [(second, "釜底抽薪")]
    assert len(rec.history) == 1 and len(rec.history[0]["spans"]) == 4


def test_next_pushes_a_diverse_batch_and_says_why(studio_dir, studio, tmp_path, loop_doc):
    pool = tmp_path / "pool.jsonl"
    rich = ("据了解，有分析人士指出，美方此举无异于掩耳盗铃，可谓釜底抽薪！这难道不是霸权吗？"
            "专家认为，这必然会让局势彻底失控。")
    rows = [
        {"id": "pool-rich-1", "title": "惊天逆转！美方彻底慌了？", "text": rich},
        {"id": "pool-rich-2", "title": "惊天逆转！美方彻底慌了？", "text": rich + "网友纷纷表示。"},
        {"id": "pool-other", "title": "油价怎么走？", "text": "业内人士指出，油价注定要涨，这是大势所趋，"
                                                        "明眼人都能看出其中的七寸。"},
        {"id": "pool-plain", "title": "天气", "text": "明天多云，最高气温二十度。"},
        {"id": loop_doc.id, "title": "", "text": "already in the project"},
    ]
    pool.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    before = {t.data["doc_id"] for t in studio.ls.tasks.list(project=studio.project_id(), fields="all")}
    run = huashu("studio", "next", "--k", "2", "--pool", str(pool), "--detector", "rules", "--json",
                 "--lambda", "0.5", "--annotations-dir", str(tmp_path / "empty"),
                 "--data-dir", str(studio_dir[0]))
    assert run.returncode == 0, run.stderr
    choice = json.loads(run.stdout)
    assert choice["uses_model_uncertainty"] is False and "NOT model uncertainty" in choice["signal"]
    assert choice["excluded_already_labelled_or_pushed"] == 1 and choice["candidates"] == 4
    picked = [p["doc_id"] for p in choice["picked"]]
    assert len(picked) == 2 and picked[0].startswith("pool-rich")
    # the near-duplicate of the first pick loses to a different article
    assert picked[1] == "pool-other", choice
    assert choice["picked"][1]["nearest_doc"] == picked[0]
    after = {t.data["doc_id"]: t for t in studio.ls.tasks.list(project=studio.project_id(), fields="all")}
    assert set(after) - before == set(picked)
    task = studio.ls.tasks.get(id=after[picked[0]].id)
    [pred] = task.predictions
    pred = pred if isinstance(pred, dict) else pred.dict()
    assert pred["model_version"].startswith("rules") and pred["result"]
    for item in pred["result"]:
        v = item["value"]
        assert task.data["text"][v["start"]:v["end"]] == v["text"]


def test_next_stratified_pushes_the_quotas_once_and_writes_the_selection(studio_dir, studio, tmp_path):
    from collections import Counter

    pool = tmp_path / "hancd_like"
    pool.mkdir()
    write_hancd_like(pool / "sina.csv", 6, long_rows=(4,))  # labels 1,0,1,0,1,0; row 4 is long
    write_hancd_like(pool / "tencent.csv", 5)  # labels 1,0,1,0,1
    sel = tmp_path / "batch.selection.jsonl"
    pid = studio.project_id()

    def tasks() -> dict:
        return {t.data["doc_id"]: t for t in studio.ls.tasks.list(project=pid, fields="all")}

    def next_(*args: str) -> dict:
        run = huashu("studio", "next", "--pool", str(pool), "--detector", "rules", "--json",
                     "--stratify", "source", "--stratify", "clickbait_label", "--skip-longer", "300",
                     "--annotations-dir", str(tmp_path / "empty"), "--data-dir", str(studio_dir[0]), *args)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    before = tasks()
    choice = next_("--quota", "sina/0=1", "--quota", "sina/1=2", "--quota", "tencent/1=2",
                   "--selection-out", str(sel))
    picked = {p["doc_id"]: p["stratum"] for p in choice["picked"]}
    assert Counter(picked.values()) == {"sina/0": 1, "sina/1": 2, "tencent/1": 2}
    assert {d for d, s in picked.items() if s == "sina/1"} == {"sina-0000", "sina-0002"}, "row 4 is too long"
    after = tasks()
    assert set(after) - set(before) == set(picked)
    for doc_id in picked:
        [pred] = studio.ls.tasks.get(id=after[doc_id].id).predictions
        pred = pred if isinstance(pred, dict) else pred.dict()
        assert pred["model_version"] == choice["model_version"]
    rows = [json.loads(x) for x in sel.read_text(encoding="utf-8").splitlines()]
    assert {r["doc_id"]: r["stratum"] for r in rows} == picked
    keys = {"doc_id", "chars", "signal", "score", "nearest_similarity", "nearest_doc", "pre_annotations",
            "stratum", "lambda", "model_version", "signal_kind"}
    assert all(set(r) == keys for r in rows)

    # the next run sees them in the project: excluded per stratum, --k split over what is left
    again = next_("--k", "3")
    strata = {s["stratum"]: (s["excluded_already_labelled_or_pushed"], s["skipped_longer"], s["picked"])
              for s in again["strata"]}
    assert strata == {"sina/0": (1, 0, 1), "sina/1": (2, 1, 0),
                      "tencent/0": (0, 0, 1), "tencent/1": (2, 0, 1)}
    assert not {p["doc_id"] for p in again["picked"]} & set(picked)
    assert set(tasks()) - set(after) == {p["doc_id"] for p in again["picked"]}


@pytest.fixture(scope="module")
def scoring_server():
    """The real scoring server (`huashu serve --detector rules`) on a free port."""
    port = free_port()
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "huashu.cli", "serve", "--port", str(port), "--detector",
                             "rules"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{url}/health", timeout=2).json().get("status") == "UP":
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if proc.poll() is not None:
                pytest.fail(f"huashu serve exited: {proc.stdout.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.5)
        else:
            pytest.fail("huashu serve did not become healthy")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_ml_backend_registered_and_called(studio_dir, studio, scoring_server, loop_doc):
    pid = studio.project_id()
    run = huashu("studio", "connect-ml", scoring_server, "--data-dir", str(studio_dir[0]))
    assert run.returncode == 0 and "registered" in run.stdout, run.stdout + run.stderr
    again = huashu("studio", "connect-ml", scoring_server, "--data-dir", str(studio_dir[0]))
    assert "already registered" in again.stdout
    backends = studio.ls.ml.list(project=pid)
    assert [b.url.rstrip("/") for b in backends] == [scoring_server]
    version = httpx.get(f"{scoring_server}/health").json()["model_version"]
    task = next(t for t in studio.ls.tasks.list(project=pid, fields="all") if t.data["doc_id"] == loop_doc.id)
    studio.ls.actions.create(id="retrieve_tasks_predictions", project=pid,
                             selected_items={"all": False, "included": [task.id]})
    preds = studio.ls.tasks.get(id=task.id).predictions
    preds = [p if isinstance(p, dict) else p.dict() for p in preds]
    from_backend = [p for p in preds if p["model_version"] == version]
    assert from_backend, f"LS did not store a prediction from /predict: {[p['model_version'] for p in preds]}"
    text = task.data["text"]
    for item in from_backend[0]["result"]:  # the backend's offsets are code points too
        assert text[item["value"]["start"]:item["value"]["end"]] == item["value"]["text"]
    assert any(item["value"]["labels"] == ["vague_authority"] and item["value"]["text"] == "有分析人士指出"
               for item in from_backend[0]["result"])
