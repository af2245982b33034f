"""The taxonomy, the generated Label Studio config and the guidelines agree."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from huashu.guidelines import guidelines_path, render_guidelines
from huashu.labelconfig import label_studio_config
from huashu.taxonomy import load_taxonomy, parse_taxonomy

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "huashu.cli", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_taxonomy_has_the_ten_labels_in_order(taxonomy):
    assert taxonomy.ids == ["engagement_bait", "vague_authority", "loaded_metaphor", "loaded_language",
                            "name_calling", "exaggeration", "rhetorical_question", "speculation",
                            "inevitability", "clickbait_title"]
    ids = [d["id"] for d in taxonomy.decisions]
    assert ids[:8] == [f"D{i}" for i in range(1, 9)]  # the v1 decisions from the foundation issue
    assert ids == [f"D{i}" for i in range(1, len(ids) + 1)]  # later ones numbered on, none lost


def test_committed_guidelines_are_up_to_date(taxonomy):
    committed = guidelines_path().read_text(encoding="utf-8")
    assert committed == render_guidelines(taxonomy), \
        "stale: run `huashu labels guidelines` and commit labels/guidelines.md"


def test_config_parses_and_matches_the_taxonomy(taxonomy):
    xml = label_studio_config(taxonomy)
    root = ET.fromstring(xml)
    assert root.tag == "View"
    labels_tags = list(root.iter("Labels"))
    assert len(labels_tags) == 1
    assert labels_tags[0].attrib["name"] == "label" and labels_tags[0].attrib["toName"] == "text"
    texts = [t for t in root.iter("Text") if t.attrib.get("name") == "text"]
    assert len(texts) == 1 and texts[0].attrib["value"] == "$text"
    label_els = list(labels_tags[0].iter("Label"))
    assert [el.attrib["value"] for el in label_els] == taxonomy.ids
    for el, label in zip(label_els, taxonomy.labels, strict=True):
        assert el.attrib["background"] == label.colour
        assert el.attrib["hotkey"] == label.hotkey
        assert label.zh in el.attrib["hint"] and label.definition_en in el.attrib["hint"]
        assert "alias" not in el.attrib  # LS would export the alias instead of the label id
    headers = [h.attrib["value"] for h in root.iter("Header")]
    assert "$title" in headers and "$origin" in headers and "$source" not in headers


def test_config_is_accepted_by_the_label_studio_sdk(taxonomy):
    from label_studio_sdk.label_interface import LabelInterface

    li = LabelInterface(label_studio_config(taxonomy))
    control = li.get_control("label")
    assert list(control.labels) == taxonomy.ids
    assert list(control.to_name) == ["text"]


def test_every_label_fact_appears_in_config_and_guidelines(taxonomy):
    xml = label_studio_config(taxonomy)
    md = render_guidelines(taxonomy)
    for label in taxonomy.labels:
        for fact in (label.id, label.zh, label.colour):
            assert fact in xml, f"{fact!r} missing from the LS config"
            assert fact in md, f"{fact!r} missing from the guidelines"
        assert f'hotkey="{label.hotkey}"' in xml
        assert f"| 热键 / hotkey | `{label.hotkey}` |" in md
        assert label.en in md and label.definition_zh in md and label.definition_en in md
        for example in (*label.examples, *label.counter_examples, *label.include, *label.exclude):
            assert example in md
    for d in taxonomy.decisions:
        assert f"### {d['id']}" in md and d["zh"].strip() in md and d["en"].strip() in md
    for rule in taxonomy.boundary_rules:
        assert rule.partition(" / ")[0].strip() in md
    assert "## 决定记录 / Decisions log" in md


def test_outputs_are_deterministic(taxonomy):
    assert label_studio_config(taxonomy) == label_studio_config(load_taxonomy())
    assert render_guidelines(taxonomy) == render_guidelines(load_taxonomy())


def test_config_escapes_markup_in_the_taxonomy(taxonomy):
    data = dict(taxonomy.raw)
    data["labels"] = [dict(item) for item in data["labels"]]
    data["labels"][0]["definition_en"] = 'Says "follow" & <like> me'
    xml = label_studio_config(parse_taxonomy(data))
    el = next(ET.fromstring(xml).iter("Label"))
    assert el.attrib["hint"].endswith('Says "follow" & <like> me')


def test_cli_config_and_guidelines_check(tmp_path):
    out = _cli("labels", "config")
    assert out.returncode == 0, out.stderr
    assert out.stdout == label_studio_config(load_taxonomy())
    target = tmp_path / "config.xml"
    assert _cli("labels", "config", "-o", str(target)).returncode == 0
    assert target.read_text(encoding="utf-8") == out.stdout

    ok = _cli("labels", "guidelines", "--check")
    assert ok.returncode == 0, ok.stderr
    stale = tmp_path / "guidelines.md"
    stale.write_text("# old guidelines\n", encoding="utf-8")
    bad = _cli("labels", "guidelines", "--check", "-o", str(stale))
    assert bad.returncode == 1 and "stale" in bad.stderr
    assert _cli("labels", "guidelines", "-o", str(stale)).returncode == 0
    assert stale.read_text(encoding="utf-8") == render_guidelines(load_taxonomy())
    assert _cli("labels", "guidelines", "--check", "-o", str(stale)).returncode == 0


def test_worked_examples_are_consistent_and_rendered(taxonomy):
    examples = taxonomy.raw.get("worked_examples") or []
    assert examples
    md = render_guidelines(taxonomy)
    for ex in examples:
        assert f"> {ex['text']}" in md
        for sp in ex.get("spans") or []:
            assert sp["label"] in taxonomy, sp
            assert sp["text"] in ex["text"], sp
            assert sp["text"] == sp["text"].strip()
            assert f"「{sp['text']}」" in md
