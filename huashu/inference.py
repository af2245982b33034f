"""The model detector: a fine-tuned encoder with per-label token heads and a headline head.

Core (not train/) so that `huashu score` and serve/ load models without importing training code.
It also holds what training and inference must share exactly: the character-level tokenisation,
the sliding windows and the span decoding.

Tokenisation. Text is normalised with ``huashu.normalize.to_simplified`` (length-preserving) and
split so that every CJK character, punctuation mark and symbol is its own pre-token (runs of
ASCII letters/digits stay together). The fast tokenizer's offset mapping then gives, for each
token, the code-point range it came from, and every span edge that falls between two characters
of different pre-tokens is a token edge.

Windows. A document's tokens are cut into windows of ``max_length - 2`` tokens overlapping by
``stride`` tokens; every token is in at least one window and nothing is truncated. Per-token
probabilities from overlapping windows are merged (mean, or the window where the token is most
central).

Heads. For each span label ``l`` two sigmoid outputs per token: ``inside_l`` (token inside a span
of ``l``) and ``begin_l`` (token starts a span of ``l``), so spans of different labels may overlap
(spaCy spancat style: independent per-label probabilities, thresholds in ``huashu_model.json``).
The headline label (``span_level: headline`` in the taxonomy) is a sequence-classification head
on the same encoder, applied to the document's title line.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from huashu.normalize import to_simplified
from huashu.spans import Document, Span

log = logging.getLogger(__name__)

MODEL_JSON = "huashu_model.json"
HEADS_FILE = "heads.safetensors"
FORMAT = "huashu-model/1"
PRECISIONS = ("auto", "fp32", "bf16", "int8", "onnx", "onnx-int8")
SOURCES = ("release", "model", "rules", "union")
ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}

# ASCII letter/digit runs stay one pre-token; every other non-space character is its own.
CHAR_SPLIT_PATTERN = r"[A-Za-z0-9]+|[^\s]"


# --------------------------------------------------------------------------------------------
# tokenisation


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Install the character-splitting pre-tokenizer on a fast tokenizer (idempotent).

    Unigram (XLM-R / e5 sentencepiece) and WordPiece (BERT Chinese) vocabularies are supported.
    """
    from tokenizers import Regex, pre_tokenizers

    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("a fast (Rust) tokenizer is needed for offset mappings")
    backend = tokenizer.backend_tokenizer
    model_type = type(backend.model).__name__
    split = pre_tokenizers.Split(Regex(CHAR_SPLIT_PATTERN), behavior="isolated")
    if model_type == "Unigram":
        tail = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    elif model_type == "WordPiece":
        tail = pre_tokenizers.BertPreTokenizer()
    elif model_type == "BPE":
        tail = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    else:
        raise ValueError(f"unsupported tokenizer model {model_type}")
    backend.pre_tokenizer = pre_tokenizers.Sequence([split, tail])
    return tokenizer


@dataclass
class Encoded:
    """A document's tokens (no special tokens) and their code-point ranges in the text."""

    ids: list[int]
    offsets: list[tuple[int, int]]

    def __len__(self) -> int:
        return len(self.ids)


def encode_text(tokenizer: Any, text: str) -> Encoded:
    """Tokenise a whole text (never truncated). Tokens that cover no character are dropped."""
    enc = tokenizer(
        to_simplified(text),
        add_special_tokens=False,
        return_offsets_mapping=True,
        truncation=False,
        verbose=False,
    )
    ids, offsets = [], []
    for i, (a, b) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
        if b > a:
            ids.append(int(i))
            offsets.append((int(a), int(b)))
    return Encoded(ids, offsets)


def char_targets(enc: Encoded, spans: Sequence[Span], labels: Sequence[str]) -> np.ndarray:
    """Token targets ``[n_tokens, 2 * n_labels]``: columns ``0..L-1`` inside, ``L..2L-1`` begin.

    A token is inside a span when its character range overlaps it, and begins it when it is the
    first such token."""
    index = {label: k for k, label in enumerate(labels)}
    n_labels = len(labels)
    y = np.zeros((len(enc), 2 * n_labels), dtype=np.int8)
    starts = np.array([a for a, _ in enc.offsets], dtype=np.int64)
    ends = np.array([b for _, b in enc.offsets], dtype=np.int64)
    for s in spans:
        k = index.get(s.label)
        if k is None:
            continue
        hit = np.nonzero((starts < s.end) & (ends > s.start))[0]
        if len(hit) == 0:
            continue
        y[hit, k] = 1
        y[hit[0], n_labels + k] = 1
    return y


def windows(n_tokens: int, max_length: int, stride: int) -> list[tuple[int, int]]:
    """Token windows ``[start, end)`` of at most ``max_length - 2`` tokens (room for the special
    tokens), consecutive windows overlapping by ``stride`` tokens; together they cover every
    token."""
    size = max_length - 2
    if size < 1:
        raise ValueError(f"max_length {max_length} leaves no room for tokens")
    if not 0 <= stride < size:
        raise ValueError(f"stride {stride} must be in [0, {size}) for max_length {max_length}")
    if n_tokens == 0:
        return []
    out = []
    start = 0
    while True:
        end = min(start + size, n_tokens)
        out.append((start, end))
        if end >= n_tokens:
            return out
        start = end - stride


def with_specials(tokenizer: Any, ids: Sequence[int]) -> list[int]:
    cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    return [cls_id, *ids, sep_id]


def merge_windows(
    n_tokens: int, spans: Sequence[tuple[int, int]], probs: Sequence[np.ndarray], how: str = "mean"
) -> np.ndarray:
    """Merge per-window token probabilities ``[end-start, k]`` into ``[n_tokens, k]``.

    ``mean`` averages every window that holds a token; ``centre`` keeps the window in which the
    token is farthest from an edge."""
    if not probs:
        return np.zeros((n_tokens, 0), dtype=np.float32)
    k = probs[0].shape[1]
    out = np.zeros((n_tokens, k), dtype=np.float32)
    if how == "mean":
        count = np.zeros((n_tokens, 1), dtype=np.float32)
        for (a, b), p in zip(spans, probs, strict=True):
            out[a:b] += p
            count[a:b] += 1
        if (count == 0).any():
            raise AssertionError("windows do not cover every token")
        return out / count
    if how == "centre":
        best = np.full(n_tokens, -1.0)
        for (a, b), p in zip(spans, probs, strict=True):
            pos = np.arange(a, b)
            margin = np.minimum(pos - a, b - 1 - pos).astype(float)
            better = margin > best[a:b]
            out[a:b][better] = p[better]
            best[a:b][better] = margin[better]
        if (best < 0).any():
            raise AssertionError("windows do not cover every token")
        return out
    raise ValueError(f"unknown merge {how!r} (mean or centre)")


def decode_spans(
    probs: np.ndarray,
    offsets: Sequence[tuple[int, int]],
    labels: Sequence[str],
    thresholds: dict[str, float],
    source: str = "model",
) -> list[Span]:
    """Token probabilities ``[n, 2L]`` (inside, begin) → character spans, per label.

    A span is a maximal run of tokens whose inside probability reaches the label's threshold,
    split where a later token's begin probability reaches it too (two adjacent spans). Its score
    is the mean inside probability."""
    n_labels = len(labels)
    out: list[Span] = []
    n = len(offsets)
    if n == 0:
        return out
    starts_c = np.fromiter((a for a, _ in offsets), dtype=np.int64, count=n)
    ends_c = np.fromiter((b for _, b in offsets), dtype=np.int64, count=n)
    for k, label in enumerate(labels):
        th = float(thresholds.get(label, 0.5))
        inside = probs[:n, k]
        begin = probs[:n, n_labels + k]
        above = inside >= th
        if not above.any():
            continue
        prev = np.concatenate(([False], above[:-1]))
        split = (begin >= th) & (begin > inside * 0.5)
        first = above & (~prev | split)  # a run starts here
        nxt_first = np.concatenate((first[1:], [True]))
        nxt_above = np.concatenate((above[1:], [False]))
        last = above & (~nxt_above | nxt_first)  # a run ends here
        run_starts = np.flatnonzero(first)
        run_ends = np.flatnonzero(last)
        sums = np.concatenate(([0.0], np.cumsum(inside, dtype=np.float64)))
        for a, b in zip(run_starts.tolist(), run_ends.tolist(), strict=True):
            score = (sums[b + 1] - sums[a]) / (b + 1 - a)
            out.append(Span(int(starts_c[a]), int(ends_c[b]), label, float(score), source))
    return sorted(out)


def title_of(doc: Document) -> tuple[int, int] | None:
    """The headline's [start, end) in ``doc.text``, if the document has one."""
    ts = doc.title_span
    if ts is not None and ts[1] > ts[0]:
        return ts
    if doc.title and doc.text.startswith(doc.title) and doc.title.strip():
        return (0, len(doc.title))
    return None


# --------------------------------------------------------------------------------------------
# the network


def _torch():
    import torch

    return torch


def _build_net_class():
    torch = _torch()
    from torch import nn

    class _HuashuNet(nn.Module):
        """One encoder, two heads: token (inside/begin per span label) and headline (2 classes)."""

        def __init__(self, encoder: nn.Module, n_span_labels: int, dropout: float = 0.1) -> None:
            super().__init__()
            self.encoder = encoder
            hidden = encoder.config.hidden_size
            self.n_span_labels = n_span_labels
            self.dropout = nn.Dropout(dropout)
            self.token_head = nn.Linear(hidden, 2 * n_span_labels)
            self.headline_head = nn.Linear(hidden, 2)

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **_: Any
        ) -> dict[str, torch.Tensor]:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            hidden = self.dropout(hidden)
            return {
                "token_logits": self.token_head(hidden),
                "headline_logits": self.headline_head(hidden[:, 0]),
            }

    return _HuashuNet


_NET_CLASS = None


def net_class():
    global _NET_CLASS
    if _NET_CLASS is None:
        _NET_CLASS = _build_net_class()
    return _NET_CLASS


def save_model(net: Any, tokenizer: Any, out_dir: Path, meta: dict[str, Any], dtype: str = "fp32") -> None:
    """Save in a Hugging Face layout: the encoder (``config.json`` + ``model.safetensors``, loads
    with ``AutoModel.from_pretrained``), the tokenizer, ``heads.safetensors`` and
    ``huashu_model.json`` (labels, thresholds, windows, precision)."""
    torch = _torch()
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    store = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]
    encoder = net.encoder
    orig = next(encoder.parameters()).dtype
    encoder.to(store)
    try:
        encoder.save_pretrained(out_dir, safe_serialization=True)
    finally:
        encoder.to(orig)
    heads = {
        f"token_head.{k}": v.detach().float().contiguous() for k, v in net.token_head.state_dict().items()
    }
    heads |= {
        f"headline_head.{k}": v.detach().float().contiguous()
        for k, v in net.headline_head.state_dict().items()
    }
    save_file(heads, str(out_dir / HEADS_FILE))
    tokenizer.save_pretrained(out_dir)
    meta = {"format": FORMAT, **meta, "weights_dtype": dtype}
    (out_dir / MODEL_JSON).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def read_meta(model_dir: Path, fmt: str = FORMAT) -> dict[str, Any]:
    """``huashu_model.json`` of a model directory, checked to be of format ``fmt``."""
    path = Path(model_dir) / MODEL_JSON
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{model_dir}: not a huashu model directory (no {MODEL_JSON})") from None
    if meta.get("format") != fmt:
        raise ValueError(f"{path}: unknown format {meta.get('format')!r} (expected {fmt})")
    return meta


def load_model(model_dir: Path) -> tuple[Any, Any, dict[str, Any]]:
    """(net in fp32 eval mode, prepared tokenizer, meta) from a saved model directory."""
    torch = _torch()
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    encoder = AutoModel.from_pretrained(model_dir, dtype=torch.float32, add_pooling_layer=False)
    net = net_class()(encoder, len(meta["labels"]))
    heads = load_file(str(model_dir / HEADS_FILE))
    missing = net.load_state_dict(heads, strict=False)
    bad = [k for k in missing.missing_keys if not k.startswith("encoder.")]
    if bad or missing.unexpected_keys:
        raise ValueError(f"{model_dir}: heads do not match the labels ({bad or missing.unexpected_keys})")
    net.eval()
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(model_dir))
    return net, tokenizer, meta


# --------------------------------------------------------------------------------------------
# the detector


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"<dir>?precision=bf16&batch_size=8"`` → (dir, {"precision": "bf16", ...})."""
    path, _, query = spec.partition("?")
    opts: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        opts[key.strip()] = value.strip()
    return path, opts


class ModelDetector:
    """Detector protocol implementation for a saved huashu model directory."""

    def __init__(
        self,
        path: str | Path,
        precision: str = "auto",
        batch_size: int = 8,
        num_threads: int | None = None,
        sources: str = "release",
    ) -> None:
        """``sources``: where span labels come from: ``release`` (the per-label choice recorded in
        ``huashu_model.json``), or ``model`` / ``rules`` / ``union`` for every span label."""
        torch = _torch()
        self.path = Path(path)
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r}: one of {', '.join(PRECISIONS)}")
        self.meta = read_meta(self.path)
        if precision == "auto":
            precision = str(self.meta.get("precision", "fp32"))
        self.precision = precision
        if precision in ONNX_FILES:  # the ONNX graph holds the weights: torch weights are optional
            from transformers import AutoTokenizer

            self.net = None
            self.tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(self.path))
        else:
            if not (self.path / HEADS_FILE).exists():
                have = [p for p, f in ONNX_FILES.items() if (self.path / f).exists()]
                raise FileNotFoundError(
                    f"{self.path}: no torch weights for precision {precision} "
                    f"(this export has only {', '.join(have) or 'nothing'})"
                )
            self.net, self.tokenizer, self.meta = load_model(self.path)
        if num_threads:
            torch.set_num_threads(int(num_threads))
        self.batch_size = int(batch_size)
        self.labels: list[str] = list(self.meta["labels"])
        self.headline_label: str | None = self.meta.get("headline_label")
        self.thresholds: dict[str, float] = {k: float(v) for k, v in self.meta.get("thresholds", {}).items()}
        self.headline_threshold = float(self.meta.get("headline_threshold", 0.5))
        self.max_length = int(self.meta.get("max_length", 256))
        self.stride = int(self.meta.get("stride", 64))
        self.merge = str(self.meta.get("merge", "mean"))
        if sources not in SOURCES:
            raise ValueError(f"sources {sources!r}: one of {', '.join(SOURCES)}")
        self.label_sources: dict[str, str] = (
            dict(self.meta.get("label_sources") or {}) if sources == "release"
            else {lb: sources for lb in self.meta["labels"]}
        )
        self.name = str(self.meta.get("name", self.path.name))
        self.version = str(self.meta.get("version", "0"))
        self._lock = threading.Lock()
        self._rules = None
        self._ort = None
        if self.precision == "int8":
            self.net = torch.ao.quantization.quantize_dynamic(self.net, {torch.nn.Linear}, dtype=torch.qint8)
        elif self.precision == "bf16":
            # weights and activations in bfloat16 (AMX / AVX512-BF16 matmuls): no per-call weight
            # casts as under autocast (the card's speed table measures it against fp32)
            self.net = self.net.to(torch.bfloat16)
        elif self.precision in ONNX_FILES:
            self._ort = self._load_onnx(ONNX_FILES[self.precision])

    def __repr__(self) -> str:
        return f"ModelDetector({str(self.path)!r}, precision={self.precision!r})"

    # ---- forward passes

    def _load_onnx(self, name: str) -> Any:
        onnx_path = self.path / name
        if not onnx_path.exists():
            raise FileNotFoundError(f"{self.path}: no {name} (`huashu export --precision auto` writes it)")
        try:
            import onnxruntime as ort
        except ImportError:
            raise ImportError("precision=onnx needs onnxruntime (pip install onnxruntime)") from None
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = _torch().get_num_threads()
        so.intra_op_num_threads = threads
        return ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])

    def _forward(self, batch_ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Padded forward pass → (token probs [B, T, 2L] sigmoid, headline P(clickbait) [B])."""
        torch = _torch()
        width = max(len(x) for x in batch_ids)
        pad = self.tokenizer.pad_token_id or 0
        ids = np.full((len(batch_ids), width), pad, dtype=np.int64)
        mask = np.zeros((len(batch_ids), width), dtype=np.int64)
        for i, x in enumerate(batch_ids):
            ids[i, : len(x)] = x
            mask[i, : len(x)] = 1
        if self._ort is not None:
            tok, head = self._ort.run(
                ["token_logits", "headline_logits"], {"input_ids": ids, "attention_mask": mask}
            )
            tok_t, head_t = torch.from_numpy(tok), torch.from_numpy(head)
        else:
            with torch.inference_mode():
                out = self.net(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
            tok_t, head_t = out["token_logits"].float(), out["headline_logits"].float()
        probs = torch.sigmoid(tok_t).numpy()
        p_head = torch.softmax(head_t, dim=-1)[:, 1].numpy()
        return probs, p_head

    def token_probabilities(self, docs: Sequence[Document]) -> list[tuple[Encoded, np.ndarray]]:
        """Per document: its tokens and merged per-token probabilities ``[n, 2L]``."""
        encs = [encode_text(self.tokenizer, d.text) for d in docs]
        jobs: list[tuple[int, int, int]] = []  # (doc index, start, end)
        for i, enc in enumerate(encs):
            jobs.extend((i, a, b) for a, b in windows(len(enc), self.max_length, self.stride))
        order = sorted(range(len(jobs)), key=lambda j: jobs[j][2] - jobs[j][1], reverse=True)
        results: dict[int, np.ndarray] = {}
        with self._lock:
            for k in range(0, len(order), self.batch_size):
                chunk = order[k : k + self.batch_size]
                batch = [
                    with_specials(self.tokenizer, encs[jobs[j][0]].ids[jobs[j][1] : jobs[j][2]])
                    for j in chunk
                ]
                probs, _ = self._forward(batch)
                for j, p in zip(chunk, probs, strict=True):
                    results[j] = p[1 : 1 + jobs[j][2] - jobs[j][1]]
        out = []
        for i, enc in enumerate(encs):
            mine = [j for j in range(len(jobs)) if jobs[j][0] == i]
            merged = merge_windows(
                len(enc), [(jobs[j][1], jobs[j][2]) for j in mine], [results[j] for j in mine], self.merge
            )
            if not mine:
                merged = np.zeros((0, 2 * len(self.labels)), dtype=np.float32)
            out.append((enc, merged))
        return out

    def clickbait_probabilities(self, titles: Sequence[str]) -> list[float]:
        out: list[float] = []
        encs = [encode_text(self.tokenizer, t) for t in titles]
        size = self.max_length - 2
        with self._lock:
            for k in range(0, len(encs), self.batch_size * 4):
                batch = [
                    with_specials(self.tokenizer, e.ids[:size]) for e in encs[k : k + self.batch_size * 4]
                ]
                _, p = self._forward(batch)
                out.extend(float(x) for x in p)
        return out

    def clickbait_probability(self, title: str) -> float:
        """P(headline is clickbait) from the headline head."""
        return self.clickbait_probabilities([title])[0]

    # ---- Detector protocol

    def _rules_detector(self) -> Any:
        if self._rules is None:
            from huashu.rules import RulesDetector

            self._rules = RulesDetector()
        return self._rules

    def detect_batch(
        self, docs: list[Document], thresholds: dict[str, float] | None = None, use_rules: bool = True
    ) -> list[list[Span]]:
        th = {**self.thresholds, **(thresholds or {})}
        source = f"{self.name}@{self.version}"
        results: list[list[Span]] = []
        model_labels = [lb for lb in self.labels if self.label_sources.get(lb, "model") != "rules"]
        if not model_labels:  # every span label comes from the rules: skip the token pass
            results = [[] for _ in docs]
        for enc, probs in self.token_probabilities(docs) if model_labels else ():
            spans = [
                s
                for s in decode_spans(probs, enc.offsets, self.labels, th, source)
                if s.label in model_labels
            ]
            results.append(spans)
        if self.headline_label and self.label_sources.get(self.headline_label, "model") != "rules":
            titled = [(i, title_of(d)) for i, d in enumerate(docs)]
            titled = [(i, ts) for i, ts in titled if ts is not None]
            probs = self.clickbait_probabilities([docs[i].text[a:b] for i, (a, b) in titled])
            for (i, (a, b)), p in zip(titled, probs, strict=True):
                if p >= th.get(self.headline_label, self.headline_threshold):
                    results[i].append(Span(a, b, self.headline_label, p, source))
        if use_rules and any(v in ("rules", "union") for v in self.label_sources.values()):
            rules = self._rules_detector().detect_batch(docs)
            for i, rspans in enumerate(rules):
                take = [s for s in rspans if self.label_sources.get(s.label, "model") in ("rules", "union")]
                results[i] = _union(results[i] + take)
        return [sorted(r) for r in results]

    def detect(self, doc: Document) -> list[Span]:
        return self.detect_batch([doc])[0]

    def token_uncertainty(self, doc: Document) -> float:
        """Mean over tokens of the largest per-label binary entropy of the inside probability, in
        bits (0 = certain, 1 = coin flip): for picking documents to annotate next."""
        _, probs = self.token_probabilities([doc])[0]
        if len(probs) == 0:
            return 0.0
        p = np.clip(probs[:, : len(self.labels)], 1e-6, 1 - 1e-6)
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
        return float(h.max(axis=1).mean())


def _union(spans: list[Span]) -> list[Span]:
    """Merge overlapping spans of the same label (keeps the contract: no same-label overlap)."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.label, s.start, s.end)):
        if out and out[-1].label == s.label and s.start < out[-1].end:
            last = out[-1]
            out[-1] = Span(
                last.start,
                max(last.end, s.end),
                s.label,
                max(last.score, s.score),
                last.source if last.source == s.source else f"{last.source}+{s.source}",
            )
        else:
            out.append(s)
    return out
