"""The tiny pipeline end to end through the real CLI: dataset → train → eval → export → score.

Gold: the rules' spans on the five seed articles written as standoff gold records (real records,
resolved and sha256-checked by huashu.corpus); HanCD: a small synthetic CSV (the real corpus is
not in the repo). The base encoder is the real offline e5-small-zh, cut to 2 layers by the tiny
config.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from model_synth import DEVICES, FILLER

from huashu.annotations import GOLD, AnnotationRecord, write_records

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _hancd(directory: Path, n: int = 24) -> None:
    directory.mkdir(parents=True)
    with (directory / "tencent.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "title", "text", "source"])
        for i in range(n):
            bait = i % 2
            title = f"震惊！第{i}个真相终于曝光" if bait else f"统计局发布第{i}期经济数据"
            parts = [FILLER[(i + k) % len(FILLER)] for k in range(6)]
            phrases = [p for v in DEVICES.values() for p in v]
            parts.insert(2, phrases[i % len(phrases)] + "，")
            w.writerow([bait, title, "".join(parts), "tencent"])


def seed_gold_labels(root: Path, seed_paths, seed_docs, splits: str, drop: tuple[str, ...] = ()) -> Path:
    """A copy of labels/ whose gold is the rules' spans on the five seeds (labels in ``drop`` left
    out) and whose frozen split file is ``splits``."""
    from huashu.detector import load_detector

    labels = root / "labels"
    shutil.copytree(REPO / "labels", labels, ignore=shutil.ignore_patterns("annotations"))
    (labels / "splits.yaml").write_text(splits, encoding="utf-8")
    rules = load_detector("rules")
    records = [
        AnnotationRecord(
            doc_id=doc.id,
            corpus="seeds",
            source=f"seeds/{path.name}",
            sha256=doc.sha256,
            annotator=GOLD,
            spans=[s for s in spans if s.label not in drop],
        )
        for path, doc, spans in zip(seed_paths, seed_docs, rules.detect_batch(seed_docs), strict=True)
    ]
    write_records(labels / "annotations" / "seeds.jsonl", records)
    return labels


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, base_dir, seed_docs, seed_paths):

    root = tmp_path_factory.mktemp("pipeline")
    labels = seed_gold_labels(root, seed_paths, seed_docs, "test: {}\n")  # no frozen split here
    _hancd(root / "hancd")
    env = {
        **os.environ,
        "HUASHU_LABELS_DIR": str(labels),
        "HUASHU_HANCD_DIR": str(root / "hancd"),
        "HUASHU_LOG_LEVEL": "WARNING",
    }
    return root, env, base_dir


def _huashu(env, *args, timeout=300):
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "huashu.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    assert proc.returncode == 0, f"huashu {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
    return proc.stdout, time.monotonic() - t0


def _run_notebook(report: Path) -> None:
    """Execute notebooks/error_analysis.ipynb on a report (in memory: the file stays output-free)."""
    import nbformat
    from nbclient import NotebookClient

    path = REPO / "notebooks" / "error_analysis.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "strip notebook outputs"
    old = os.environ.get("HUASHU_REPORT")
    os.environ["HUASHU_REPORT"] = str(report)
    try:
        NotebookClient(
            nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
        ).execute()
    finally:
        if old is None:
            os.environ.pop("HUASHU_REPORT")
        else:
            os.environ["HUASHU_REPORT"] = old
    kinds = [k for c in nb.cells if c.cell_type == "code" for o in c.outputs for k in o.get("data", {})]
    assert kinds.count("image/png") >= 3 and "text/html" in kinds  # P/R, calibration, curve; FP/FN


def test_tiny_pipeline(workspace):
    root, env, base = workspace
    common = ["--config", "tiny", "--set", f"base={base}"]
    out, _ = _huashu(env, "dataset", *common, "--out", str(root / "ds"))
    info = json.loads(out)
    assert info["articles"] == {"train": 3, "validation": 1, "test": 1}
    assert info["weak_docs"] == 4 and info["headlines"]["train"] + info["headlines"]["test"] > 20
    from datasets import load_from_disk

    dd = load_from_disk(str(root / "ds"))
    assert not set(dd["train"]["doc_id"]) & set(dd["test"]["doc_id"])

    out, t_train = _huashu(env, "train", *common, "--out", str(root / "run"))
    model_dir = Path(json.loads(out)["model_dir"])
    meta = json.loads((model_dir / "huashu_model.json").read_text())
    assert meta["labels"][0] == "engagement_bait" and meta["headline_label"] == "clickbait_title"
    assert t_train < 90
    fit = json.loads((root / "run" / "train_report.json").read_text())["training_fit"]
    assert fit["articles"] >= 1 and 0.0 <= fit["partial_f1"] <= 1.0  # the under/overfitting check

    out, _ = _huashu(env, "eval", *common, "--out", str(root / "eval"))
    summary = json.loads((root / "eval" / "summary.json").read_text())
    assert {"model", "rules", "tfidf", "model+rules", "combined"} <= set(summary["scores"])
    assert summary["data"]["gold_docs"] == 5 and len(summary["folds"]) == 2
    # the rules are scored against their own output: a perfect score proves the plumbing
    assert summary["scores"]["rules"]["micro"]["partial_f1"] == pytest.approx(1.0)
    assert summary["learning_curve"] and "model" in summary["learning_curve"][0]
    assert "model" in summary["headline"] and summary["headline"]["n_test"] > 0
    report = (root / "eval" / "report.md").read_text()
    assert "partial overlap" in report and "Learning curve" in report
    full = json.loads((root / "eval" / "report.json").read_text())
    assert len(full["documents"]) == 5 and full["calibration"] is not None

    _run_notebook(root / "eval" / "report.json")

    release = root / "release"
    out, _ = _huashu(
        env,
        "export",
        str(model_dir),
        "--out",
        str(release),
        "--eval",
        str(root / "eval" / "summary.json"),
        "--precision",
        "onnx-int8",  # `auto` measures all five; here fp32 vs the ONNX int8 graph keeps the test short
        "--bench-docs",
        "2",
        "--latency-sizes",
        "500",
    )
    result = json.loads(out)
    assert result["vocab"]["after"] < result["vocab"]["before"]
    assert result["precision"] == "onnx-int8" and (release / "model.int8.onnx").exists()
    assert set(result["bench"]) >= {"fp32", "onnx-int8"}
    card = (release / "MODEL_CARD.md").read_text()
    assert "onnx-int8" in card and "Cross-validated evaluation" in card
    assert (release / "MODEL_CARD.md").exists()
    assert result["size_mb"] < 60

    from huashu.detector import load_detector
    from huashu.ingest import ingest_file
    from huashu.spans import validate_spans

    doc = ingest_file(REPO / "seeds" / "000_1187af2e36dfae89.txt")[0]
    fast = load_detector(str(release))  # the precision export chose: the ONNX int8 graph
    assert fast.precision == "onnx-int8"
    validate_spans(doc.text, fast.detect(doc))
    det = load_detector(f"{release}?precision=fp32")
    spans = det.detect(doc)
    validate_spans(doc.text, spans)
    assert all(s.label in meta["labels"] or s.label == "clickbait_title" for s in spans)
    assert 0.0 <= det.clickbait_probability("震惊！真相曝光") <= 1.0
    assert 0.0 <= det.token_uncertainty(doc) <= 1.0
    # bf16: the network itself is bfloat16 (AMX matmuls, no per-call weight casts) and its token
    # probabilities stay close to fp32's on a real article
    import numpy as np
    import torch

    bf = load_detector(f"{release}?precision=bf16")
    assert {p.dtype for p in bf.net.parameters()} == {torch.bfloat16}
    (_, p32), (_, p16) = det.token_probabilities([doc])[0], bf.token_probabilities([doc])[0]
    assert p16.dtype == np.float32 and p16.shape == p32.shape
    assert float(np.abs(p16 - p32).max()) < 0.05
    validate_spans(doc.text, bf.detect(doc))

    # `sources=` overrides the release's per-label choice (the network on every label, e.g. to
    # benchmark it); a wrong option value is a clear error, not a traceback
    from huashu.detector import DetectorError

    raw = load_detector(f"{release}?precision=fp32&sources=model")
    assert raw.label_sources == dict.fromkeys(meta["labels"], "model")
    with pytest.raises(DetectorError, match="sources 'everything'"):
        load_detector(f"{release}?sources=everything")

    # without a CV report, export chooses each label's source on the run's validation articles
    out, _ = _huashu(
        env,
        "export",
        str(model_dir),
        "--out",
        str(root / "release-val"),
        "--precision",
        "fp32",
        "--bench-docs",
        "1",
        "--latency-sizes",
        "500",
    )
    val_meta = json.loads((root / "release-val" / "huashu_model.json").read_text())
    assert val_meta["label_sources_from"].startswith("validation split")
    assert set(val_meta["label_sources"]) == set(meta["labels"])
    assert set(val_meta["label_sources"].values()) <= {"rules", "model", "union"}
    val_card = (root / "release-val" / "MODEL_CARD.md").read_text()
    assert "of its own training articles" in val_card and "kept: the " in val_card

    out, _ = _huashu(
        env, "score", "--json", "--detector", str(release), str(REPO / "seeds" / "000_1187af2e36dfae89.txt")
    )
    res = json.loads(out.splitlines()[0])
    assert "spans" in res and res["model"]["id"]


def test_baselines_only_eval_never_needs_torch(workspace):
    """`huashu eval --baselines-only` (rules vs TF-IDF) works without loading the network: its report
    must not require torch facts it never gathered (a KeyError 'torch' once crashed it)."""
    root, env, base = workspace
    out_dir = root / "eval-baselines"
    _huashu(
        env,
        "eval",
        "--config",
        "tiny",
        "--set",
        f"base={base}",
        "--set",
        "data.weak=false",
        "--baselines-only",
        "--out",
        str(out_dir),
    )
    summary = json.loads((out_dir / "summary.json").read_text())
    assert {"rules", "tfidf"} <= set(summary["scores"]) and "model" not in summary["scores"]
    report = (out_dir / "report.md").read_text()
    assert "- machine: " in report and "partial overlap" in report


def test_pick_layers_spreads_first_to_last():
    from huashu.train.distill import pick_layers

    assert pick_layers(6, 3) == [0, 2, 5]
    assert pick_layers(12, 4) == [0, 4, 7, 11]
    assert pick_layers(6, 6) == list(range(6))
    assert pick_layers(2, 1) == [1]
    with pytest.raises(ValueError, match=r"1\.\.6 layers"):
        pick_layers(6, 7)


def test_distilled_student(workspace):
    """`huashu distill`: a student with fewer layers, trained on unlabelled text to reproduce the
    teacher's logits, gets closer to the teacher than the untrained cut it starts from; the run
    writes a loadable model and a teacher-vs-student comparison; bad input is a clean error."""
    import numpy as np
    import torch

    from huashu.inference import encode_text, load_model, with_specials
    from huashu.train.distill import make_student

    root, env, base = workspace
    teacher_dir = root / "run" / "model"
    if not teacher_dir.exists():
        _huashu(env, "train", "--config", "tiny", "--set", f"base={base}", "--out", str(root / "run"))
    heldout = root / "heldout.txt"
    heldout.write_text("000_1187af2e36dfae89\n", encoding="utf-8")
    out, _ = _huashu(
        env,
        "distill",
        str(teacher_dir),
        "--out",
        str(root / "student"),
        "--layers",
        "1",
        "--epochs",
        "3",
        "--heldout",
        str(heldout),
    )
    engines = json.loads(out)["engines"]
    assert set(engines) == {"teacher fp32", "teacher bf16", "student fp32", "student bf16"}
    assert all(e["chars_per_s"] > 0 and e["partial_f1"] is not None for e in engines.values())
    assert engines["teacher fp32"]["speedup"] == 1.0
    assert "| student bf16 |" in (root / "student" / "compare.md").read_text()
    report = json.loads((root / "student" / "distill_report.json").read_text())
    assert report["articles"] > 0 and report["steps"] > 0 and report["layers_kept"] == [1]

    teacher, tok, _ = load_model(teacher_dir)
    student, _, smeta = load_model(root / "student" / "model")
    cut, _ = make_student(teacher, 1)
    assert smeta["layers"] == 1 and student.encoder.config.num_hidden_layers == 1
    assert smeta["distilled_from"]["layers"] == 2
    probe = "震惊！第3个真相终于曝光。专家说这是必然的。"
    ids = torch.as_tensor([with_specials(tok, encode_text(tok, probe).ids)])
    with torch.inference_mode():
        ref = teacher(input_ids=ids)["token_logits"]
        err = {
            name: float(((net.eval()(input_ids=ids)["token_logits"] - ref) ** 2).mean())
            for name, net in (("cut", cut), ("student", student))
        }
    assert err["student"] < err["cut"], err

    # the student is a huashu model like any other: offsets into the text as given
    from huashu.detector import load_detector
    from huashu.spans import Document, validate_spans

    text = "震驚！𠮷野家😀的真相：專家稱必然崩盤？"
    det = load_detector(f"{root / 'student' / 'model'}?sources=model")
    validate_spans(text, det.detect(Document(id="x", text=text)))
    assert np.isfinite(det.clickbait_probability(text))

    # exported like any model; its card carries the teacher-vs-student table
    _huashu(
        env,
        "export",
        str(root / "student" / "model"),
        "--out",
        str(root / "release-student"),
        "--precision",
        "bf16",
        "--bench-docs",
        "1",
        "--latency-sizes",
        "500",
    )
    card = (root / "release-student" / "MODEL_CARD.md").read_text()
    assert "Distilled student against its teacher" in card and "| student bf16 |" in card
    assert "distilled with `huashu distill`" in card
    # the student saw no gold: the per-label sources are chosen on the teacher's validation articles
    rel = json.loads((root / "release-student" / "huashu_model.json").read_text())
    assert rel["label_sources_from"].startswith("validation split") and rel["distillation"]["engines"]

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "huashu.cli",
            "distill",
            str(teacher_dir),
            "--out",
            str(root / "bad"),
            "--layers",
            "5",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2 and "1..2 layers" in proc.stderr and "Traceback" not in proc.stderr
