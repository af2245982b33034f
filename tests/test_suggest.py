"""Suggesters and span-classifier decoding: offsets, registry, NMS, precedence (no torch)."""

from __future__ import annotations

import numpy as np
import pytest

from huashu.rules import RulesDetector
from huashu.spancat import decode
from huashu.spans import Document
from huashu.suggest import SUGGESTERS, Candidates, SuggestContext, by_suggester, check_names, suggest

TEXT = (
    "中方出手了！\n\n有分析人士指出，这是一记釜底抽薪的组合拳😀。"
    "美國霸權主義者難道不知道𠮷野家？「所谓的“盟友”」必将失败。"
)


@pytest.fixture(scope="module")
def ctx() -> SuggestContext:
    doc = Document("t", TEXT, meta={"title_span": [0, 6]})
    return SuggestContext(doc, RulesDetector().detect(doc))


def test_every_suggester_gives_trimmed_code_point_spans(ctx):
    per = by_suggester(ctx, list(SUGGESTERS))
    assert set(per) == set(SUGGESTERS)
    for name, spans in per.items():
        for a, b in spans:
            assert 0 <= a < b <= len(TEXT), name
            piece = TEXT[a:b]
            assert piece.strip() == piece and piece[0] not in "，。！、😀" and piece[-1] not in "，。、😀", (
                name,
                piece,
            )
    # offsets index the text the user gave even though suggesters read the simplified text
    assert (TEXT.index("釜底抽薪"), TEXT.index("釜底抽薪") + 4) in per["idioms"]
    assert any(TEXT[a:b] == "霸權主義" or "霸權" in TEXT[a:b] for a, b in per["word_ngrams"])
    assert any(TEXT[a:b].endswith("？") for a, b in per["clauses"])  # questions keep their mark
    assert any(TEXT[a:b] == "盟友" for a, b in per["quotes"])


def test_candidates_are_deduplicated_and_remember_their_suggesters(ctx):
    c = suggest(ctx, list(SUGGESTERS))
    assert len(set(c.spans)) == len(c.spans) == len(c.kinds)
    assert c.spans == sorted(c.spans)
    i = c.spans.index((TEXT.index("釜底抽薪"), TEXT.index("釜底抽薪") + 4))
    assert "idioms" in c.kinds[i]


def test_unknown_suggester_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown suggester.*nope.*known: rule_hits"):
        check_names(["rule_hits", "nope"])


def test_decode_nms_precedence_and_trim():
    text = "有分析人士指出，你们觉得呢？"
    cands = Candidates([(0, 7), (1, 7), (0, 8), (8, 14)], [frozenset()] * 4)
    labels = ["vague_authority", "engagement_bait", "rhetorical_question"]
    probs = np.array([[0.9, 0, 0], [0.95, 0, 0], [0.1, 0, 0], [0, 0.8, 0.7]], dtype=np.float32)
    spans = decode(
        cands, probs, labels, {lb: 0.5 for lb in labels}, text, {"rhetorical_question": ["engagement_bait"]}
    )
    va = [s for s in spans if s.label == "vague_authority"]
    assert [(s.start, s.end) for s in va] == [(1, 7)]  # the higher-scored overlapping span wins
    assert [s.label for s in spans if s.start == 8] == ["engagement_bait"]  # precedence (yields_to)
    assert all(text[s.start] not in "，" for s in spans)


def test_fast_head_equals_pooled_features_path():
    """Inference projects tokens before pooling (the first layer is linear): same logits as the
    training path (pooled features → MLP), including candidates between or past the tokens."""
    import torch

    from huashu.spancat import TokenFeatures, build_head, head_logits, pooled_features

    rng = np.random.default_rng(0)
    n, d = 50, 8
    starts = np.arange(0, 2 * n, 2)
    tf = TokenFeatures(rng.normal(size=(n, d)).astype(np.float32), starts, starts + 2)
    spans = [(0, 5), (3, 4), (10, 40), (95, 100), (99, 100), (41, 42)]
    sents = [(0, 20), (21, 60), (61, 100)]
    dense = rng.normal(size=(len(spans), 5)).astype(np.float32)
    head = build_head(4 * d, 5, 3, 16).eval()
    with torch.no_grad():
        head.dense_scale.copy_(torch.tensor(rng.uniform(0.5, 2, 5), dtype=torch.float32))
        slow = head(
            torch.from_numpy(pooled_features(tf, spans, sents)), torch.from_numpy(dense) / head.dense_scale
        )
        fast = head_logits(head, tf, spans, sents, dense)
    assert float((slow - fast).abs().max()) < 1e-5


def test_release_spans_is_the_detectors_and_the_evaluations_combination():
    from huashu.spancat import release_spans
    from huashu.spans import Span

    model = [Span(0, 4, "loaded_language", 0.9), Span(10, 14, "rhetorical_question", 0.8)]
    rules = [
        Span(2, 6, "loaded_language", 0.6),
        Span(10, 14, "engagement_bait", 0.7),
        Span(20, 22, "speculation"),
    ]
    out = release_spans(
        model,
        rules,
        {"loaded_language": "union", "speculation": "model", "engagement_bait": "rules"},
        {"rhetorical_question": ["engagement_bait"]},
    )
    assert [(s.start, s.end, s.label) for s in out] == [
        (0, 6, "loaded_language"),
        (10, 14, "engagement_bait"),
    ]


def test_bad_spancat_config_is_one_clear_error(tmp_path):
    from huashu.errors import UserError
    from huashu.train.spancat import load_spancat_config

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "arch: spancat\nlayers: [3, 13]\nstride: 300\nthreshold_objective: best\n", encoding="utf-8"
    )
    with pytest.raises(UserError, match=r"layers \[3, 13\].*stride 300.*threshold_objective"):
        load_spancat_config(bad)
    bad.write_text("arch: spancat\nlayer: [3]\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"unknown key.*layer"):
        load_spancat_config(bad)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["eval", "--config", "spancat", "--baselines-only"], "--baselines-only is the token tagger's"),
        (["train", "--config", "spancat", "--all-gold"], "--all-gold is the token tagger's"),
        (["eval", "--config", "spancat", "--set", "layers=[3, 40]"], "layers [3, 40]"),
    ],
)
def test_spancat_cli_refuses_options_it_would_ignore(args, needle):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "huashu.cli", *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr
