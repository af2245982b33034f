"""The span classifier end to end through the real CLI: suggest → train → eval → export → score.

Gold: the rules' spans on the five seed articles as standoff gold records (resolved and
sha256-checked); a frozen split holding one of them; HanCD: a small synthetic CSV. The base encoder
is the real offline e5-small-zh (layers 1-2 of it feed the tiny config's classifier).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_model_pipeline import REPO, _hancd, _huashu, seed_gold_labels

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def space(tmp_path_factory, base_dir, seed_docs, seed_paths):
    root = tmp_path_factory.mktemp("spancat")
    test_id = seed_docs[1].id
    splits = f"test:\n  fixture:\n    - {test_id}\nrules_dev:\n  - {seed_docs[0].id}\n"
    labels = seed_gold_labels(root, seed_paths, seed_docs, splits, drop=("clickbait_title",))
    _hancd(root / "hancd", n=40)
    env = {
        **os.environ,
        "HUASHU_LABELS_DIR": str(labels),
        "HUASHU_HANCD_DIR": str(root / "hancd"),
        "HUASHU_DATA_DIR": str(root / "data"),
        "HUASHU_LOG_LEVEL": "WARNING",
    }
    return root, env, base_dir, test_id


def test_spancat_eval_train_score(space):
    root, env, base, test_id = space
    common = ["--config", "spancat-tiny", "--set", f"base={base}"]
    out, _ = _huashu(env, "eval", *common, "--out", str(root / "eval"), "--test", timeout=900)
    res = json.loads(out)
    assert set(res["cv_partial_micro_f1"]) >= {"spancat", "rules", "tfidf", "release"}
    summary = json.loads((root / "eval" / "summary.json").read_text())
    assert summary["data"]["dev_articles"] == 4 and summary["data"]["test_articles"] == 1
    assert summary["data"]["fresh_for_rules"] == 3  # one dev article is in rules_dev
    assert summary["suggesters"]["all"]["recall"] >= summary["suggesters"]["word_ngrams"]["recall"] > 0
    assert summary["test"]["articles"] == 1 and "release" in summary["test"]["scores"]
    assert summary["curve"] and summary["headline"]["n_test"] > 0
    report = (root / "eval" / "report.md").read_text()
    assert "Frozen test split" in report and "recall ceiling" in report
    assert test_id not in json.dumps(summary["cv"])  # the test article was never cross-validated

    out, _ = _huashu(
        env,
        "train",
        *common,
        "--out",
        str(root / "run"),
        "--eval",
        str(root / "eval" / "summary.json"),
        timeout=900,
    )
    model_dir = Path(json.loads(out)["model_dir"])
    meta = json.loads((model_dir / "huashu_model.json").read_text())
    assert meta["format"] == "huashu-spancat/1" and meta["encoder"]["layers_kept"] == 2
    assert meta["training"]["gold_articles"] == 4
    assert set(meta["thresholds"]) == set(meta["labels"])

    # score through the CLI with the exported directory; offsets index the raw file
    seed = REPO / "seeds" / "000_1187af2e36dfae89.txt"
    out, _ = _huashu(env, "score", str(seed), "--detector", str(model_dir), "--json")
    doc = json.loads(out.splitlines()[0])
    raw = seed.read_text(encoding="utf-8")
    assert doc["model"]["id"] == "spancat-tiny"
    for s in doc["spans"]:
        assert raw[s["start"] : s["end"]] == s["text"]


def test_spancat_detector_offsets_on_hard_text(space):
    """Emoji, 𠮷, traditional characters: every span indexes the text given."""
    from huashu.detector import load_detector
    from huashu.spans import Document

    root, _env, _base, _ = space
    model_dir = root / "run" / "model"
    if not model_dir.exists():
        pytest.skip("needs the model of test_spancat_eval_train_score")
    det = load_detector(f"{model_dir}?precision=fp32&sources=union")
    text = "震驚！😀美國霸權主義者難道不知道𠮷野家？有分析人士指出，這是一記釜底抽薪的組合拳。" * 3
    spans = det.detect(Document("x", text))
    for s in spans:
        assert 0 <= s.start < s.end <= len(text) and text[s.start : s.end].strip()
    assert any(s.label == "vague_authority" for s in spans)  # the rules' share under sources=union
    assert 0.0 <= det.token_uncertainty(Document("x", text)) <= 1.0
