"""The Python API (huashu/__init__.py, huashu/api.py): the README example runs, results are typed
and equal the CLI's --json object, `import huashu` stays light, bad input gives clear errors.

(The server's JSON is compared in tests/serve/test_api_matches_server.py.)
"""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import huashu
import huashu.api

REPO = Path(__file__).resolve().parents[1]
SEEDS = sorted((REPO / "seeds").glob("*.txt"))

# The README's API example, verbatim. The README writer pastes this block (as a ```python block
# right after a line `<!-- api-example -->`); from then on the test runs the README's own copy.
README_API_EXAMPLE = '''\
import json

import huashu

scorer = huashu.load("rules")   # load once: "default", "rules", a model directory or a Hub id
text = "不想谈2件事，中方大规模抛美债\\n\\n有分析人士指出，这是一记釜底抽薪的组合拳。美国是帮凶吗？"
result = scorer.score(text)     # or scorer.score(body, title="...", format="html")

print(result.article_score, result.explanation)
print(result.headline.text, result.headline.source, result.headline.clickbait_probability)
for span in result.spans:       # offsets are code points into `text`
    assert text[span.start:span.end] == span.text
    print(span.label, span.start, span.end, span.text, span.score)

# many articles at once: texts, or dicts like the server's batch documents
results = scorer.score_many([text, {"id": "a2", "text": "<h1>标题</h1><p>据了解，美国是帮凶。</p>",
                                    "format": "html"}])
print([r.id for r in results], [r.labels() for r in results])

# the same JSON object as `huashu score --json` and POST /v1/score
print(json.dumps(result.to_dict(), ensure_ascii=False)[:80])
print([label.id for label in huashu.labels()])
'''


def readme_api_example() -> str:
    """The ```python block after `<!-- api-example -->` in README.md, else the constant above."""
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    m = re.search(r"<!-- api-example -->[^\n]*\n(?:[ \t]*\n)*```python\n(.*?)\n```", text, re.S)
    return m.group(1) + "\n" if m else README_API_EXAMPLE


@pytest.fixture()
def rules_default(monkeypatch, tmp_path):
    """No release model: the default detector is the rules detector (and the cache starts empty)."""
    monkeypatch.setenv("HUASHU_MODEL", str(tmp_path / "no-model"))
    monkeypatch.setattr(huashu.api, "_default", None)


def test_readme_api_example_runs():
    out = io.StringIO()
    namespace: dict = {"__name__": "__readme__"}
    with contextlib.redirect_stdout(out):
        exec(compile(readme_api_example(), "README.md:api-example", "exec"), namespace)
    printed = out.getvalue()
    assert "first_line" in printed  # the headline was found on the first line
    assert "vague_authority" in printed and "有分析人士指出" in printed
    result = namespace["result"]
    assert isinstance(result, huashu.Result) and result.headline.clickbait_probability is not None
    assert [r.id for r in namespace["results"]][1] == "a2"


def test_docstring_examples_run():
    for module in (huashu, huashu.api):
        res = doctest.testmod(module, extraglobs={"huashu": huashu}, optionflags=doctest.ELLIPSIS)
        assert res.attempted > 0 and res.failed == 0, module.__name__


def test_import_is_light_and_the_rules_path_never_loads_torch():
    code = ("import sys, huashu\n"
            "assert 'torch' not in sys.modules and 'huashu.api' not in sys.modules, 'eager import'\n"
            "assert set(huashu.__all__) - {'__version__'} == set(huashu._EXPORTS) <= set(dir(huashu))\n"
            "r = huashu.load('rules').score('据了解，美国是帮凶。')\n"
            "assert r.spans and 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
            "import huashu.spans, huashu.ingest, huashu.scoring\n"
            "print(huashu.Scorer.__module__, huashu.ScoringError.__module__,\n"
            "      huashu.DetectorError.__module__)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["huashu.api", "huashu.scoring", "huashu.detector"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        huashu.nope  # noqa: B018


def test_score_with_the_default_detector_is_loaded_once(rules_default):
    r1 = huashu.score("据了解，美国是帮凶。")
    scorer = huashu.api._default
    r2 = huashu.score_many(["据了解，美国是帮凶。"])[0]
    assert huashu.api._default is scorer and scorer.name == "rules"
    assert r1.model.id == "rules" and r1.to_dict() | {"elapsed_ms": 0} == r2.to_dict() | {"elapsed_ms": 0}


def test_result_is_typed_and_round_trips():
    scorer = huashu.load("rules")
    text = "震惊！中方出手了\n\n有分析人士指出，这是一记釜底抽薪的组合拳。"
    r = scorer.score(text, id="doc-1")
    assert r.id == "doc-1" and r.offsets == "raw" and r.chars == len(text) - 1
    assert all(isinstance(s, huashu.DeviceSpan) for s in r.spans)
    assert isinstance(r.headline, huashu.Headline) and isinstance(r.model, huashu.ModelInfo)
    assert all(isinstance(v, huashu.LabelSummary) for v in r.summary.values())
    assert set(r.summary) == {lb.id for lb in huashu.labels()}
    d = r.to_dict()
    assert json.loads(json.dumps(d, ensure_ascii=False)) == d
    assert huashu.Result.from_dict(d) == r and huashu.Result.from_dict(d).to_dict() == d
    # fields a future contract adds survive the round trip
    grown = {**d, "language": "zh", "spans": [{**d["spans"][0], "why": "x"}, *d["spans"][1:]],
             "headline": {**d["headline"], "rule": "y"}}
    assert huashu.Result.from_dict(grown).to_dict() == grown
    assert r.labels()[0] in {s.label for s in r.spans}


def test_result_equals_the_cli_json(tmp_path):
    """`huashu score FILE --json` and `huashu.load(...).score(raw, id=stem)` give the same object."""
    env = {**os.environ, "HUASHU_MODEL": str(tmp_path / "no-model")}
    a = tmp_path / "a.txt"
    a.write_text("不想谈2件事，中方大规模抛美债\n\n有分析人士指出，美国是帮凶吗？\n", encoding="utf-8")
    files = [a, SEEDS[0], SEEDS[4]]
    out = subprocess.run([sys.executable, "-m", "huashu.cli", "score", *map(str, files), "--json"],
                         cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    cli = [json.loads(line) for line in out.stdout.splitlines()]
    scorer = huashu.load("rules")
    for path, want in zip(files, cli, strict=True):
        got = scorer.score(path.read_text(encoding="utf-8"), id=path.stem).to_dict()
        assert {**got, "elapsed_ms": 0} == {**want, "elapsed_ms": 0}, path.name
    assert cli[0]["headline"]["source"] == "first_line" and cli[1]["headline"] is None


def test_score_options_title_html_and_many():
    scorer = huashu.load("rules")
    body = "有分析人士指出，这是一记釜底抽薪的组合拳。美国是帮凶吗？"
    r = scorer.score(body, title="震惊！中方出手了")
    assert r.headline.text == "震惊！中方出手了" and r.headline.source == "title_field"
    assert r.headline.clickbait_probability >= 0.5
    assert scorer.score(body).headline is None
    only = scorer.score(body, labels=["vague_authority"], threshold=0.5)
    assert {s.label for s in only.spans} == {"vague_authority"} and list(only.summary) == ["vague_authority"]
    page = "<html><body><h1>标题</h1><p>据了解，他们不过是<b>帮凶</b>。</p></body></html>"
    h = scorer.score(page, format="html")
    assert h.headline.source == "html" and all(page[s.start:s.end] == s.text for s in h.spans)
    items = [body, {"text": page, "format": "html", "id": "p"}, {"text": body, "title": "标题"}]
    many = scorer.score_many(items * 3, batch_size=2)
    assert [r.id for r in many][:3] == [r.id, "p", r.id] and len(many) == 9
    one = [scorer.score(body), h, scorer.score(body, title="标题")]
    for got, want in zip(many, one * 3, strict=True):
        assert {**got.to_dict(), "elapsed_ms": 0, "id": 0} == {**want.to_dict(), "elapsed_ms": 0, "id": 0}
    assert scorer.score_many([]) == []


@pytest.mark.parametrize("call, error, message", [
    (lambda s: s.score(""), huashu.InputError, "text is empty"),
    (lambda s: s.score(b"bytes"), huashu.InputError, "text must be a str"),
    (lambda s: s.score("正文。", format="pdf"), huashu.InputError, "format 'pdf'"),
    (lambda s: s.score("\ud800"), huashu.InputError, "surrogate"),
    (lambda s: s.score("<script>x</script>", format="html"), huashu.InputError, "no article text left"),
    (lambda s: s.score("正文。", labels=["nope"]), huashu.ScoringError, "unknown label"),
    (lambda s: s.score("正文。", threshold=2), huashu.ScoringError, "outside"),
    (lambda s: s.score_many(["正文。", {"txt": "x"}]), huashu.InputError, "item 1: unknown key"),
    (lambda s: s.score_many(["正文。", 3]), huashu.InputError, "item 1: expected a str or a mapping"),
    (lambda s: s.score_many(["正文。", " "]), huashu.InputError, "item 1: text is empty"),
    (lambda s: s.score_many(["正文。"], batch_size=0), huashu.InputError, "batch_size"),
])
def test_bad_input_is_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call(huashu.load("rules"))
    assert issubclass(error, ValueError)


def test_detectors_load_by_spec_path_or_object(tmp_path):
    from huashu.rules import RulesDetector

    assert huashu.load("rules").name == "rules"
    own = RulesDetector()
    assert huashu.load(own).detector is own
    with pytest.raises(huashu.DetectorError, match="not 'rules', 'default', an existing model directory"):
        huashu.load("nope")
    with pytest.raises(huashu.DetectorError, match="not 'rules', 'default'"):
        huashu.load(tmp_path)  # an existing directory that is not a model
    with pytest.raises(TypeError, match="expected a spec string"):
        huashu.load(42)  # type: ignore[arg-type]


def test_unreachable_hub_id_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(huashu.DetectorError) as e:
        huashu.load("huashu-test/no-such-model")
    msg = str(e.value)
    assert "huashu-test/no-such-model" in msg and "Hub" in msg and "\n" not in msg


def test_hub_id_from_the_local_hub_cache(tmp_path):
    """The real huggingface_hub resolves a cached snapshot offline; the directory must be a model."""
    code = ("from huashu.hub import hub_model_dir, HubError\n"
            "print(hub_model_dir('acme/huashu-small'))\n"
            "try:\n    hub_model_dir('acme/not-a-model')\n"
            "except HubError as e:\n    print('ERR', e)\n")
    home = tmp_path / "hf"
    for name, files in (("huashu-small", ["huashu_model.json"]), ("not-a-model", ["config.json"])):
        repo = home / "hub" / f"models--acme--{name}"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text("0" * 40)
        snap = repo / "snapshots" / ("0" * 40)
        snap.mkdir(parents=True)
        for f in files:
            (snap / f).write_text("{}")
    env = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.strip().splitlines()
    assert Path(first) == home / "hub" / "models--acme--huashu-small" / "snapshots" / ("0" * 40)
    assert second.startswith("ERR acme/not-a-model on the Hub is not an exported huashu model")
