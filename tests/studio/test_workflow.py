"""End to end against a real Label Studio: up → push → two annotators → pull → agreement.

Every offset is checked character by character against the document text (code points), on an
article with 😀, 𠮷, traditional characters and full-width punctuation, and on a long article
split into linked tasks.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
from label_studio_sdk import LabelStudio

from huashu.annotations import read_records
from huashu.ingest import ingest_file
from huashu.studio import StudioError
from huashu.studio.project import ensure_project, export_tasks, generated_config
from huashu.studio.pull import load_export, pull_export
from huashu.studio.server import connect, free_port, obtain_token, signup_user

from .conftest import REPO, huashu

pytestmark = pytest.mark.studio

CORPUS = "studiotest"

# (label, quote) per annotator on the emoji/traditional article
A_SPANS = [("engagement_bait", "麻烦您点击一下“关注”"), ("vague_authority", "根據權威資料"),
           ("loaded_metaphor", "釜底抽薪"), ("vague_authority", "有分析人士指出")]
B_SPANS = [("engagement_bait", "麻烦您点击一下“关注”"), ("vague_authority", "根據權威資料，結合個人觀點撰寫"),
           ("loaded_metaphor", "掩耳盗铃"), ("vague_authority", "有分析人士指出")]


def _doc(docs_dir: Path, name: str):
    [doc] = ingest_file(docs_dir / name)
    return doc


def _item(text: str, start: int, end: int, label: str) -> dict:
    return {"from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}


def _tasks_by_doc(ls, project_id: int) -> dict[str, list]:
    out: dict[str, list] = {}
    for t in ls.tasks.list(project=project_id, fields="all"):
        out.setdefault(t.data["doc_id"], []).append(t)
    for tasks in out.values():
        tasks.sort(key=lambda t: t.data["part"])
    return out


@pytest.fixture(scope="module")
def pushed(studio_dir, studio, docs_dir):
    sdir, _ = studio_dir
    run = huashu("studio", "push", str(docs_dir / "emoji_trad.txt"), str(docs_dir / "long_split.txt"),
                 "--max-chars", "120", "--corpus", CORPUS, "--data-dir", str(sdir))
    assert run.returncode == 0, run.stdout + run.stderr
    return run


@pytest.fixture(scope="module")
def users(studio, server_state):
    """Two annotators, each with their own login and personal access token."""
    out = {}
    for email in ("ann.a@example.com", "ann.b@example.com"):
        password = "pw-" + email.split("@")[0] + "-12345"
        signup_user(studio, email, password)
        token = obtain_token(server_state.url, email, password)
        out[email] = LabelStudio(base_url=server_state.url, api_key=token)
    return out


@pytest.fixture(scope="module")
def annotated(studio, pushed, users, docs_dir):
    """Both users annotate the emoji article through the API with their own tokens; A also
    annotates a span in the last part of the split article."""
    pid = studio.project_id()
    by_doc = _tasks_by_doc(studio.ls, pid)
    doc = _doc(docs_dir, "emoji_trad.txt")
    [task] = by_doc[doc.id]
    ids = {}
    for email, spans in (("ann.a@example.com", A_SPANS), ("ann.b@example.com", B_SPANS)):
        result = []
        for label, quote in spans:
            start = task.data["text"].index(quote)
            result.append(_item(task.data["text"], start, start + len(quote), label))
        ids[email] = users[email].annotations.create(id=task.id, result=result).id
    long_doc = _doc(docs_dir, "long_split.txt")
    last = by_doc[long_doc.id][-1]
    start = last.data["text"].index("釜底抽薪")
    users["ann.a@example.com"].annotations.create(
        id=last.id, result=[_item(last.data["text"], start, start + 4, "loaded_metaphor")])
    # a skipped (cancelled) annotation must not reach the store
    users["ann.b@example.com"].annotations.create(id=last.id, result=[], was_cancelled=True)
    return ids


@pytest.fixture(scope="module")
def store(tmp_path_factory, studio_dir, annotated):
    d = tmp_path_factory.mktemp("annotations")
    run = huashu("studio", "pull", "--annotations-dir", str(d), "--data-dir", str(studio_dir[0]))
    assert run.returncode == 0, run.stdout + run.stderr
    return d


# ------------------------------------------------------------------------------------------- up

def test_up_starts_server_creates_project_and_keeps_secrets_out_of_repo(studio_dir, server_state, studio):
    sdir, first = studio_dir
    assert "started" in first.stdout and "labelling config created" in first.stdout
    assert server_state.url.startswith("http://127.0.0.1:")
    creds = sdir / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    secret = json.loads(creds.read_text())
    assert secret["token"] and secret["password"]
    assert not Path(sdir).resolve().is_relative_to(REPO)
    grep = subprocess.run(["git", "grep", "-l", secret["password"]], cwd=REPO, capture_output=True, text=True)
    assert grep.stdout == ""
    project = studio.ls.projects.get(id=studio.project_id())
    assert project.label_config.strip() == generated_config().strip()


def test_up_twice_changes_nothing(studio_dir, server_state, studio):
    sdir, _ = studio_dir
    run = huashu("studio", "up", "--data-dir", str(sdir), "--no-install")
    assert run.returncode == 0, run.stderr
    assert "already running" in run.stdout and "labelling config unchanged" in run.stdout
    assert f"pid {server_state.pid}" in run.stdout
    assert [p.title for p in studio.ls.projects.list()] == ["huashu"]
    status = huashu("studio", "status", "--json", "--data-dir", str(sdir))
    info = json.loads(status.stdout)
    assert info["running"] and info["healthy"] and info["url"] == server_state.url


# ------------------------------------------------------------------------------------------- push

def test_push_imports_tasks_with_code_point_predictions(studio, pushed, docs_dir):
    by_doc = _tasks_by_doc(studio.ls, studio.project_id())
    doc = _doc(docs_dir, "emoji_trad.txt")
    assert "😀" in doc.text and "𠮷" in doc.text and "權威" in doc.text
    [task] = by_doc[doc.id]
    data = task.data
    assert data["text"] == doc.text and data["sha256"] == doc.sha256 and data["corpus"] == CORPUS
    assert (data["part"], data["parts"], data["offset"]) == (0, 1, 0)
    assert data["source"].endswith("emoji_trad.txt")
    full = studio.ls.tasks.get(id=task.id)
    [pred] = full.predictions
    pred = pred if isinstance(pred, dict) else pred.dict()
    assert pred["model_version"].startswith("rules")
    assert pred["result"], "the rules detector finds devices in this article"
    for item in pred["result"]:
        v = item["value"]
        assert doc.text[v["start"]:v["end"]] == v["text"]
        assert 0 < item["score"] <= 1
    # the rules find the vague authority after the emoji: code points, not UTF-16 units
    starts = {(item["value"]["start"], item["value"]["labels"][0]) for item in pred["result"]}
    assert (doc.text.index("根據權威資料"), "vague_authority") in {(s, lab) for s, lab in starts}


def test_long_document_split_into_linked_tasks(studio, pushed, docs_dir):
    doc = _doc(docs_dir, "long_split.txt")
    tasks = _tasks_by_doc(studio.ls, studio.project_id())[doc.id]
    assert len(tasks) > 1
    assert "split into" in pushed.stdout
    rebuilt = ""
    for i, t in enumerate(tasks):
        assert t.data["part"] == i and t.data["parts"] == len(tasks) and t.data["offset"] == len(rebuilt)
        assert len(t.data["text"]) <= 120
        if i < len(tasks) - 1:
            assert t.data["text"].endswith("\n")  # cut at a paragraph boundary
        rebuilt += t.data["text"]
    assert rebuilt == doc.text


def test_second_push_creates_no_duplicate(studio_dir, studio, pushed, docs_dir):
    before = len(list(studio.ls.tasks.list(project=studio.project_id())))
    run = huashu("studio", "push", str(docs_dir), "--max-chars", "120", "--corpus", CORPUS,
                 "--data-dir", str(studio_dir[0]))
    assert run.returncode == 0, run.stderr
    assert "0 task(s) created" in run.stdout and "already in the project" in run.stdout
    assert len(list(studio.ls.tasks.list(project=studio.project_id()))) == before


# ------------------------------------------------------------------------------------------- pull

def test_pull_stores_spans_character_exact(store, docs_dir):
    records = {(r.doc_id, r.annotator): r for r in read_records(store / f"{CORPUS}.jsonl")}
    doc = _doc(docs_dir, "emoji_trad.txt")
    for email, expected in (("ann.a@example.com", A_SPANS), ("ann.b@example.com", B_SPANS)):
        rec = records[(doc.id, email)]
        assert rec.sha256 == doc.sha256 and rec.corpus == CORPUS
        assert rec.ls["project"] and rec.ls["task"] and rec.ls["annotation"]
        assert rec.created_at and rec.updated_at and rec.history == []
        got = sorted((s.label, doc.text[s.start:s.end]) for s in rec.spans)
        assert got == sorted(expected)
        for s in rec.spans:  # Python code points: the emoji and 𠮷 count as one character each
            assert s.start == doc.text.index(doc.text[s.start:s.end])
    # the split article: the span in the last part maps back to whole-document offsets
    long_doc = _doc(docs_dir, "long_split.txt")
    [span] = records[(long_doc.id, "ann.a@example.com")].spans
    assert long_doc.text[span.start:span.end] == "釜底抽薪" and span.start == long_doc.text.index("釜底抽薪")
    assert isinstance(records[(long_doc.id, "ann.a@example.com")].ls["task"], int)
    # the cancelled annotation of B on that task is not a record
    assert (long_doc.id, "ann.b@example.com") not in records


def test_pull_is_idempotent(store, studio_dir):
    path = store / f"{CORPUS}.jsonl"
    before = path.read_bytes()
    run = huashu("studio", "pull", "--annotations-dir", str(store), "--data-dir", str(studio_dir[0]))
    assert run.returncode == 0, run.stderr
    assert "0 new, 0 changed" in run.stdout
    assert path.read_bytes() == before


# ------------------------------------------------------------------------------------------- agreement

def test_agreement_figures(store, docs_dir):
    run = huashu("studio", "agreement", "--annotations-dir", str(store), "--json", "--docs", str(docs_dir))
    assert run.returncode == 0, run.stderr
    rep = json.loads(run.stdout)
    [pair] = rep["pairs"]
    assert {pair["a"], pair["b"]} == {"ann.a@example.com", "ann.b@example.com"}
    assert pair["docs"] == 1
    s = pair["scores"]
    # engagement_bait: identical spans
    assert s["engagement_bait"]["partial_f1"] == pytest.approx(1.0)
    # vague_authority: one exact, one 6-char span inside B's 15-char span:
    # P = (6/15 + 1)/2 = 0.7, R = (1 + 1)/2 = 1 → F1 = 1.4/1.7
    assert s["vague_authority"]["partial_f1"] == pytest.approx(1.4 / 1.7)
    assert s["vague_authority"]["exact_f1"] == pytest.approx(0.5)
    assert s["loaded_metaphor"]["partial_f1"] == pytest.approx(0.0)
    # micro: P = (1 + 1.4 + 0)/4 = 0.6, R = (1 + 2 + 0)/4 = 0.75
    assert s["micro"]["partial_f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert s["micro"]["exact_f1"] == pytest.approx(0.5)
    texts = {(d["label"], tuple(x["text"] for x in d["a"]), tuple(x["text"] for x in d["b"]))
             for d in rep["disagreements"]}
    assert ("loaded_metaphor", ("釜底抽薪",), ("掩耳盗铃",)) in texts or \
           ("loaded_metaphor", ("掩耳盗铃",), ("釜底抽薪",)) in texts
    table = huashu("studio", "agreement", "--annotations-dir", str(store))
    assert table.returncode == 0 and "micro" in table.stdout and "loaded_metaphor" in table.stdout


# ------------------------------------------------------------------------------------------- changes

def test_changed_annotation_keeps_history(store, studio, studio_dir, users, annotated, docs_dir, tmp_path):
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    doc = _doc(docs_dir, "emoji_trad.txt")
    b = users["ann.b@example.com"]
    ann_id = annotated["ann.b@example.com"]
    start = doc.text.index("掩耳盗铃")
    b.annotations.update(id=ann_id, result=[_item(doc.text, start, start + 4, "loaded_metaphor")])
    run = huashu("studio", "pull", "--annotations-dir", str(copy), "--data-dir", str(studio_dir[0]))
    assert run.returncode == 0, run.stderr
    assert "1 changed" in run.stdout and "changed in LS" in run.stdout
    rec = {(r.doc_id, r.annotator): r for r in read_records(copy / f"{CORPUS}.jsonl")}[
        (doc.id, "ann.b@example.com")]
    assert [doc.text[s.start:s.end] for s in rec.spans] == ["掩耳盗铃"]
    [old] = rec.history
    assert sorted(doc.text[s["start"]:s["end"]] for s in old["spans"]) == sorted(q for _, q in B_SPANS)
    assert old["updated_at"] and old["replaced_at"]
    # an annotation deleted in LS is kept in the store and reported
    studio.ls.annotations.delete(id=ann_id)
    run = huashu("studio", "pull", "--annotations-dir", str(copy), "--data-dir", str(studio_dir[0]))
    assert run.returncode == 0, run.stderr
    assert "gone from LS, kept in the store" in run.stdout
    kept = {(r.doc_id, r.annotator) for r in read_records(copy / f"{CORPUS}.jsonl")}
    assert (doc.id, "ann.b@example.com") in kept


# ------------------------------------------------------------------------------------------- bad input

def test_server_down_and_wrong_token_are_clear_errors(store, server_state, tmp_path):
    out = tmp_path / "ann"
    down = huashu("studio", "pull", "--annotations-dir", str(out), "--url", f"http://127.0.0.1:{free_port()}",
                  "--token", "x", "--project", "1")
    assert down.returncode == 2 and "not answering" in down.stderr and "Traceback" not in down.stderr
    bad = huashu("studio", "pull", "--annotations-dir", str(out), "--url", server_state.url,
                 "--token", "not-a-token", "--project", "1")
    assert bad.returncode == 2 and "rejected the API token" in bad.stderr and "Traceback" not in bad.stderr
    assert not out.exists()
    with pytest.raises(StudioError, match="not answering"):
        connect(url=f"http://127.0.0.1:{free_port()}", token="x")


def test_malformed_export_writes_nothing(store, tmp_path):
    path = store / f"{CORPUS}.jsonl"
    before = path.read_bytes()
    for content in ("{not json", json.dumps({"tasks": []}), json.dumps([{"foo": 1}]),
                    json.dumps([{"id": 1, "data": {"text": "abc"},
                                 "annotations": [{"id": 2, "result": "x"}]}])):
        bad = tmp_path / "export.json"
        bad.write_text(content)
        run = huashu("studio", "pull", "--export", str(bad), "--annotations-dir", str(store))
        assert run.returncode == 2, run.stdout
        assert "nothing written" in run.stderr and "Traceback" not in run.stderr
        assert path.read_bytes() == before


def test_span_past_end_or_unknown_label_writes_nothing(store, studio, tmp_path):
    tasks = export_tasks(studio, studio.project_id())
    path = store / f"{CORPUS}.jsonl"
    before = path.read_bytes()
    annotated_task = next(t for t in tasks if t["annotations"] and t["data"]["parts"] == 1)
    region = annotated_task["annotations"][0]["result"][0]
    n = len(annotated_task["data"]["text"])
    region["value"].update(end=n + 3)
    region["value"].pop("text")
    with pytest.raises(StudioError) as e:
        pull_export(tasks, studio.project_id(), {}, store)
    msg = str(e.value)
    assert f"task {annotated_task['id']}" in msg and f"[{region['value']['start']},{n + 3})" in msg
    assert "outside the task text" in msg and "nothing written" in msg
    assert path.read_bytes() == before
    region["value"].update(end=region["value"]["start"] + 1, labels=["no_such_label"])
    with pytest.raises(StudioError, match="no_such_label"):
        pull_export(tasks, studio.project_id(), {}, store)
    assert path.read_bytes() == before
    # and through the CLI, from the saved export
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks, ensure_ascii=False))
    assert load_export(export) == tasks
    run = huashu("studio", "pull", "--export", str(export), "--annotations-dir", str(store))
    assert run.returncode == 2 and "no_such_label" in run.stderr
    assert path.read_bytes() == before


def test_config_change_that_orphans_annotations_is_refused(studio, store):
    config = generated_config()
    without_metaphor = "\n".join(line for line in config.splitlines()
                                  if 'value="loaded_metaphor"' not in line)
    with pytest.raises(StudioError, match=r"loaded_metaphor \(\d+ region"):
        ensure_project(studio, config=without_metaphor)
    without_unused = "\n".join(line for line in config.splitlines() if 'value="inevitability"' not in line)
    assert ensure_project(studio, config=without_unused).action == "updated"
    assert ensure_project(studio).action == "updated"  # back to the taxonomy's config
    assert ensure_project(studio).action == "unchanged"


def test_health_endpoint(server_state):
    assert httpx.get(f"{server_state.url}/health").status_code == 200
