"""Batch scoring (huashu/batch.py, `huashu score --input/--output`): output, resume, Ray Data."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from serve_helpers import HUASHU, REPO

from huashu.batch import BatchError, score_corpus

RECORDS = [
    {"id": "d0", "title": "震惊！中方出手了？", "text": "😀𠮷 有分析人士指出，這是一記釜底抽薪的組合拳。"},
    {"id": "d1", "text": "根據權威資料，結合個人觀點撰寫。難道這是巧合嗎？"},
    {"id": "d2", "title": "平常的标题", "text": "今年的经济数据与去年大体持平。麻烦您点击一下“关注”。"},
    {"id": "d3", "text": "美国财政部公布的数据显示，持有量下降。直击七寸。"},
]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "elapsed_ms"}


def test_local_engine_writes_one_line_per_doc(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "corpus.jsonl", RECORDS)
    out = tmp_path / "out" / "scored.jsonl"
    stats = score_corpus(src, out, "rules", progress=False)
    assert (stats.total, stats.skipped, stats.scored) == (4, 0, 4)
    lines = read_lines(out)
    assert [r["id"] for r in lines] == ["d0", "d1", "d2", "d3"]
    for rec, res in zip(RECORDS, lines, strict=True):
        raw = f"{rec['title']}\n{rec['text']}" if rec.get("title") else rec["text"]
        assert {"spans", "summary", "article_score", "headline", "model"} <= res.keys()
        for s in res["spans"]:
            assert raw[s["start"]:s["end"]] == s["text"]
    assert any(s["text"] == "釜底抽薪" for s in lines[0]["spans"])


def test_resume_skips_already_scored_ids_and_keeps_their_lines(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "corpus.jsonl", RECORDS)
    out = tmp_path / "scored.jsonl"
    # a previous run scored d0 and d2, then died while writing d3
    kept = [{"id": "d0", "spans": [], "marker": "first run"},
            {"id": "d2", "spans": [], "marker": "first run"}]
    out.write_text("".join(json.dumps(r) + "\n" for r in kept) + '{"id": "d3", "spa', encoding="utf-8")
    stats = score_corpus(src, out, "rules", progress=False)
    assert (stats.skipped, stats.scored) == (2, 2)
    lines = read_lines(out)
    assert lines[:2] == kept, "already-scored lines are never rewritten"
    assert [r["id"] for r in lines[2:]] == ["d1", "d3"]
    assert len({r["id"] for r in lines}) == len(lines) == 4
    # nothing left to do: a second resume scores nothing and changes nothing
    before = out.read_bytes()
    assert score_corpus(src, out, "rules", progress=False).scored == 0
    assert out.read_bytes() == before
    # --no-resume starts afresh
    assert score_corpus(src, out, "rules", resume=False, progress=False).scored == 4
    assert "marker" not in out.read_text()


def test_resume_refuses_a_corrupt_output(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "corpus.jsonl", RECORDS)
    out = tmp_path / "scored.jsonl"
    out.write_text('not json\n{"id": "d0"}\n', encoding="utf-8")
    with pytest.raises(BatchError, match="line 1"):
        score_corpus(src, out, "rules", progress=False)
    assert out.read_text() == 'not json\n{"id": "d0"}\n'


def test_cli_score_input_output_csv(tmp_path: Path) -> None:
    src = tmp_path / "corpus.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["label", "title", "text", "source"])
        w.writeheader()
        for r in RECORDS:
            w.writerow({"label": 0, "title": r.get("title", ""), "text": r["text"], "source": "test"})
    out = tmp_path / "scored.jsonl"
    cmd = [*HUASHU, "score", "--input", str(src), "--output", str(out), "--detector", "rules"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [x["id"] for x in read_lines(out)] == [f"corpus-{i:04d}" for i in range(4)]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and len(read_lines(out)) == 4  # resumed: nothing added
    r = subprocess.run([*HUASHU, "score", "--input", str(tmp_path / "nope.jsonl"), "--output", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "nope.jsonl" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_ray_engine_matches_local(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'huashu[ray]')")
    src = write_jsonl(tmp_path / "corpus.jsonl", RECORDS[:3])
    local = tmp_path / "local.jsonl"
    distributed = tmp_path / "ray.jsonl"
    score_corpus(src, local, "rules", progress=False)
    stats = score_corpus(src, distributed, "rules", engine="ray", batch_size=2, actors=1, progress=False)
    assert stats.scored == 3
    assert [comparable(r) for r in read_lines(distributed)] == [comparable(r) for r in read_lines(local)]


RAY_HINT = "--engine ray needs the ray extra: pip install 'huashu[ray]'"


def test_ray_engine_without_ray_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    src = write_jsonl(tmp_path / "corpus.jsonl", RECORDS)
    out = tmp_path / "scored.jsonl"
    with pytest.raises(BatchError) as e:
        score_corpus(src, out, "rules", engine="ray", progress=False)
    assert str(e.value) == RAY_HINT
    assert not out.exists()  # failed before anything was written


def test_cli_ray_engine_without_ray_is_one_error_line(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "corpus.jsonl", RECORDS)
    no_ray = "import sys; sys.modules['ray'] = None; from huashu.cli import main; main()"
    r = subprocess.run([sys.executable, "-c", no_ray, "score", "--input", str(src), "--output",
                        str(tmp_path / "out.jsonl"), "--engine", "ray"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert f"huashu: error: {RAY_HINT}" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_ray_is_an_optional_extra_and_in_dev() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any(d.startswith("ray") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert extras["ray"] == ["ray[data]>=2.40"]
    assert "ray[data]>=2.40" in extras["dev"]
