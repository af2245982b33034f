"""The span classifier detector (spaCy ``spancat`` design): suggest candidate spans, label them.

Core (not train/): ``huashu score``, the server and Label Studio pre-annotations load it without
importing training code. Training, cross-validation and export are in ``train/spancat.py``.

Data flow for one document:

1. **Encoder features.** The text (normalised to simplified, same length) is tokenised by the
   encoder's own fast tokenizer (sentencepiece pieces for e5: single characters would be input the
   encoder never saw in pretraining), cut into overlapping windows (nothing truncated), and the
   hidden states of the configured layers are concatenated per token (windows merged by mean).
   Each token keeps the code-point range it came from (``offset_mapping``).
2. **Candidates** from the suggesters (:mod:`huashu.suggest`).
3. **Candidate features**: the mean of the span's token features, its first and last token, the
   mean of its sentence (context), plus dense features (:func:`dense_features`): which suggesters
   proposed it, length, position, the rules' hits per label, idiom / charged-word lexicon hits,
   jieba POS classes.
4. **Classifier**: a small MLP, one sigmoid per span label (labels may overlap).
5. **Decoding** per label: candidates at or above the label's threshold, greedy same-label
   non-maximum suppression (no two spans of one label overlap), the taxonomy's precedence
   (``yields_to``), trimmed edges.

The headline head (clickbait) is logistic regression over encoder features of the headline and
the body's lead, applied to the document's title line.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from huashu.inference import _union, read_meta, title_of, windows
from huashu.normalize import to_simplified
from huashu.rules import RulesDetector, apply_precedence, trim
from huashu.spans import Document, Span, text_hash
from huashu.suggest import (
    POS_CLASSES,
    Candidates,
    SuggestContext,
    charged_words,
    check_names,
    idioms,
    suggest,
)

log = logging.getLogger(__name__)

FORMAT = "huashu-spancat/1"
MODEL_JSON = "huashu_model.json"
HEAD_FILE = "spancat_head.safetensors"
DEFAULT_LAYERS = (3, 6, 9)
SPAN_SOURCES = ("model", "rules", "union")


# --------------------------------------------------------------------------------------------
# encoder features


@dataclass
class TokenFeatures:
    """One document's token features ``[n, D]`` (float16/32) and each token's [start, end) in the
    text. Tokens that cover no character of their own (sentencepiece's bare ``▁``) are left out."""

    feats: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)

    def token_range(self, start: int, end: int) -> tuple[int, int]:
        """[a, b) of the tokens overlapping [start, end) (a == b if none)."""
        a = int(np.searchsorted(self.ends, start, side="right"))
        b = int(np.searchsorted(self.starts, end, side="left"))
        return a, max(a, b)


class Encoder:
    """A Hugging Face encoder + its fast tokenizer, giving per-token hidden states of chosen
    layers (0 = embeddings). ``precision``: fp32 or bf16 (weights and activations)."""

    def __init__(
        self,
        path: str | Path,
        layers: Sequence[int] = DEFAULT_LAYERS,
        precision: str = "bf16",
        max_length: int = 256,
        stride: int = 64,
        batch_size: int = 16,
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError(f"{path}: a fast tokenizer is needed (offset mappings)")
        self.model = AutoModel.from_pretrained(str(path), add_pooling_layer=False).eval()
        n_layers = self.model.config.num_hidden_layers
        bad = [x for x in layers if not 0 <= x <= n_layers]
        if bad:
            raise ValueError(f"layers {bad} outside 0..{n_layers} of {path}")
        self.layers = tuple(int(x) for x in layers)
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision {precision!r}: fp32 or bf16")
        self.precision = precision
        if precision == "bf16":
            self.model = self.model.to(torch.bfloat16)
        self.max_length, self.stride, self.batch_size = int(max_length), int(stride), int(batch_size)
        self.hidden = int(self.model.config.hidden_size)
        self._space = self.tokenizer.convert_tokens_to_ids("▁")
        cls_id = self.tokenizer.cls_token_id
        self._cls = cls_id if cls_id is not None else self.tokenizer.bos_token_id
        sep_id = self.tokenizer.sep_token_id
        self._sep = sep_id if sep_id is not None else self.tokenizer.eos_token_id
        self._pad = self.tokenizer.pad_token_id or 0
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.hidden * len(self.layers)

    def tokenize(self, text: str) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
        enc = self.tokenizer(
            to_simplified(text),
            add_special_tokens=False,
            return_offsets_mapping=True,
            truncation=False,
            verbose=False,
        )
        ids = [int(i) for i in enc["input_ids"]]
        off = np.array(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        keep = (off[:, 1] > off[:, 0]) & (np.array(ids) != self._space) if ids else np.zeros(0, bool)
        return ids, off[:, 0], off[:, 1], keep

    def features(self, texts: Sequence[str]) -> list[TokenFeatures]:
        """Token features of each text (all windows of all texts batched by length)."""
        import torch

        toks = [self.tokenize(t) for t in texts]
        jobs = [
            (i, a, b)
            for i, (ids, *_r) in enumerate(toks)
            for a, b in windows(len(ids), self.max_length, self.stride)
        ]
        order = sorted(range(len(jobs)), key=lambda j: jobs[j][2] - jobs[j][1], reverse=True)
        outs: dict[int, np.ndarray] = {}
        with self._lock, torch.inference_mode():
            for k in range(0, len(order), self.batch_size):
                chunk = order[k : k + self.batch_size]
                width = max(jobs[j][2] - jobs[j][1] for j in chunk) + 2
                ids = torch.full((len(chunk), width), self._pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for r, j in enumerate(chunk):
                    i, a, b = jobs[j]
                    row = [self._cls, *toks[i][0][a:b], self._sep]
                    ids[r, : len(row)] = torch.tensor(row)
                    mask[r, : len(row)] = 1
                hs = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
                cat = torch.cat([hs[x] for x in self.layers], -1).float().numpy()
                for r, j in enumerate(chunk):
                    _, a, b = jobs[j]
                    outs[j] = cat[r, 1 : 1 + b - a]
        result = []
        for i, (ids, starts, ends, keep) in enumerate(toks):
            n = len(ids)
            acc = np.zeros((n, self.dim), dtype=np.float32)
            cnt = np.zeros((n, 1), dtype=np.float32)
            for j, (ii, a, b) in enumerate(jobs):
                if ii == i:
                    acc[a:b] += outs[j]
                    cnt[a:b] += 1
            feats = acc / np.maximum(cnt, 1)
            result.append(TokenFeatures(feats[keep], starts[keep], ends[keep]))
        return result


# --------------------------------------------------------------------------------------------
# candidate features


def dense_names(suggesters: Sequence[str], labels: Sequence[str]) -> list[str]:
    return (
        [f"kind:{k}" for k in suggesters]
        + [
            "log_chars",
            "log_tokens",
            "rel_pos",
            "in_title",
            "ends_question",
            "in_quotes",
            "whole_sentence",
            "whole_clause",
            "idiom",
            "negative",
            "degree",
            "disgust_anger",
        ]
        + [f"rule_cover:{lb}" for lb in labels]
        + [f"rule_exact:{lb}" for lb in labels]
        + [f"pos:{p}" for p in POS_CLASSES]
    )


def dense_features(
    ctx: SuggestContext,
    cands: Candidates,
    suggesters: Sequence[str],
    labels: Sequence[str],
    tf: TokenFeatures,
) -> np.ndarray:
    """Per candidate: suggester kinds, size, position, rule and lexicon hits, POS classes
    (vectorised with prefix sums over characters and words)."""
    text, n_text = ctx.text, max(1, len(ctx.text))
    names = dense_names(suggesters, labels)
    n, n_lab = len(cands), len(labels)
    out = np.zeros((n, len(names)), dtype=np.float32)
    if n == 0:
        return out
    base = len(suggesters)
    rc0 = base + 12
    re0 = rc0 + n_lab
    pos0 = re0 + n_lab
    kind_ix = {k: i for i, k in enumerate(suggesters)}
    for i, kinds in enumerate(cands.kinds):
        for k in kinds:
            j = kind_ix.get(k)
            if j is not None:
                out[i, j] = 1
    sp = np.array(cands.spans, dtype=np.int64)
    s, e = sp[:, 0], sp[:, 1]
    length = (e - s).astype(np.float32)
    ta = np.searchsorted(tf.ends, s, side="right")
    tb = np.maximum(ta, np.searchsorted(tf.starts, e, side="left"))
    out[:, base + 0] = np.log1p(length)
    out[:, base + 1] = np.log1p(tb - ta)
    out[:, base + 2] = s / n_text
    title = ctx.doc.title_span
    if title is not None:
        out[:, base + 3] = (s < title[1]) & (e > title[0])
    qmark = np.array([c in "？?" for c in text], dtype=bool)
    out[:, base + 4] = qmark[e - 1]

    def prefix(mask: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(mask, dtype=np.float64)])

    quote = np.zeros(len(text), dtype=np.float32)
    for qa, qb in ctx.quotes:
        quote[qa:qb] = 1
    cq = prefix(quote)
    out[:, base + 5] = (cq[e] - cq[s]) / length > 0.5
    sent_set, clause_set = set(ctx.sentences), set(ctx.clauses)
    out[:, base + 6] = [t in sent_set for t in cands.spans]
    out[:, base + 7] = [t in clause_set for t in cands.spans]
    idiom_set = idioms()
    starts_idiom = np.array([text[j : j + 4] in idiom_set for j in range(len(text))], dtype=np.float32)
    ci = prefix(starts_idiom)
    out[:, base + 8] = (ci[np.maximum(s, e - 3)] - ci[s]) > 0
    # words wholly inside a candidate: [lo, hi) in word order
    words = ctx.words
    if words:
        lex = charged_words()
        w_start = np.array([w.start for w in words])
        w_end = np.array([w.end for w in words])
        lo = np.searchsorted(w_start, s, side="left")
        hi = np.maximum(lo, np.searchsorted(w_end, e, side="right"))
        pieces = [text[w.start : w.end] for w in words]
        for col, key in ((9, "negative"), (10, "degree"), (11, "disgust_anger")):
            c = prefix(np.array([p in lex[key] for p in pieces], dtype=np.float32))
            out[:, base + col] = np.minimum(c[hi] - c[lo], 3)
        pos = np.array([w.pos for w in words])
        for k, p in enumerate(POS_CLASSES):
            c = prefix(pos == p)
            out[:, pos0 + k] = (c[hi] - c[lo]) > 0
    lab_ix = {lb: i for i, lb in enumerate(labels)}
    cover = np.zeros((n_lab, len(text)), dtype=np.float32)
    exact: dict[tuple[int, int], list[int]] = {}
    for r in ctx.rule_spans:
        k = lab_ix.get(r.label)
        if k is not None:
            cover[k, r.start : r.end] = 1
            exact.setdefault((r.start, r.end), []).append(k)
    cc = np.concatenate([np.zeros((n_lab, 1)), np.cumsum(cover, 1, dtype=np.float64)], 1)
    out[:, rc0 : rc0 + n_lab] = ((cc[:, e] - cc[:, s]) / length).T
    if exact:
        where = {t: i for i, t in enumerate(cands.spans)}
        for t, ks in exact.items():
            i = where.get(t)
            if i is not None:
                out[i, [re0 + k for k in ks]] = 1
    return out


def pooled_features(
    tf: TokenFeatures, spans: Sequence[tuple[int, int]], sentences: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Per candidate ``[mean of its tokens, first token, last token, mean of its sentence]``."""
    d = tf.feats.shape[1]
    out = np.zeros((len(spans), 4 * d), dtype=np.float32)
    if len(tf) == 0 or not spans:
        return out
    feats = tf.feats.astype(np.float32)
    csum = np.concatenate([np.zeros((1, d), np.float32), np.cumsum(feats, 0)], 0)
    sent_starts = np.array([s for s, _ in sentences] or [0])
    rng = np.array([tf.token_range(s, e) for s, e in spans])
    a, b = rng[:, 0], rng[:, 1]
    b = np.where(b > a, b, np.minimum(a + 1, len(tf)))
    a = np.minimum(a, len(tf) - 1)
    out[:, :d] = (csum[b] - csum[a]) / (b - a)[:, None]
    out[:, d : 2 * d] = feats[a]
    out[:, 2 * d : 3 * d] = feats[b - 1]
    for i, (s, _e) in enumerate(spans):
        k = int(np.searchsorted(sent_starts, s, side="right")) - 1
        ss, se = sentences[k] if 0 <= k < len(sentences) else (s, _e)
        sa, sb = tf.token_range(ss, se)
        if sb <= sa:
            sa, sb = a[i], b[i]
        out[i, 3 * d :] = (csum[sb] - csum[sa]) / (sb - sa)
    return out


# --------------------------------------------------------------------------------------------
# the classifier


def build_head(d_pooled: int, d_dense: int, n_labels: int, hidden: int = 256, dropout: float = 0.2) -> Any:
    import torch
    from torch import nn

    class SpanHead(nn.Module):
        """MLP over [pooled encoder features, dense features] → one logit per label."""

        def __init__(self) -> None:
            super().__init__()
            self.drop_in = nn.Dropout(dropout)
            self.hidden = nn.Linear(d_pooled + d_dense, hidden)
            self.drop = nn.Dropout(dropout)
            self.out = nn.Linear(hidden, n_labels)

        def forward(self, pooled: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
            x = torch.cat([self.drop_in(pooled), dense], -1)
            return self.out(self.drop(torch.nn.functional.gelu(self.hidden(x))))

    head = SpanHead()
    head.register_buffer("dense_scale", torch.ones(d_dense))
    return head


def token_ranges(
    tf: TokenFeatures, spans: Sequence[tuple[int, int]], sentences: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, ...]:
    """Token ranges of each candidate ``[a, b)`` and of its sentence ``[sa, sb)``, with the edge
    cases of :func:`pooled_features` (a candidate between tokens takes the next token)."""
    n = len(tf)
    sp = np.array(spans, dtype=np.int64).reshape(-1, 2)
    a = np.searchsorted(tf.ends, sp[:, 0], side="right")
    b = np.maximum(a, np.searchsorted(tf.starts, sp[:, 1], side="left"))
    b = np.where(b > a, b, np.minimum(a + 1, n))
    a = np.minimum(a, n - 1)
    sent = np.array(sentences, dtype=np.int64).reshape(-1, 2)
    k = np.searchsorted(sent[:, 0], sp[:, 0], side="right") - 1 if len(sent) else np.full(len(sp), -1)
    ok = (k >= 0) & (k < len(sent))
    ss = np.where(ok, sent[np.clip(k, 0, max(len(sent) - 1, 0)), 0] if len(sent) else sp[:, 0], sp[:, 0])
    se = np.where(ok, sent[np.clip(k, 0, max(len(sent) - 1, 0)), 1] if len(sent) else sp[:, 1], sp[:, 1])
    sa = np.searchsorted(tf.ends, ss, side="right")
    sb = np.maximum(sa, np.searchsorted(tf.starts, se, side="left"))
    bad = sb <= sa
    sa, sb = np.where(bad, a, sa), np.where(bad, b, sb)
    return a, b, sa, sb


def head_logits(
    head: Any,
    tf: TokenFeatures,
    spans: Sequence[tuple[int, int]],
    sentences: Sequence[tuple[int, int]],
    dense: np.ndarray,
) -> Any:
    """The classifier's logits without materialising pooled features: the first layer is linear,
    so each token is projected once by its four weight blocks (mean, first, last, sentence) and
    the candidates sum prefix-summed projections. Equal to ``head(pooled_features(...), dense)``
    in eval mode."""
    import torch

    w = head.hidden.weight
    h = w.shape[0]
    d = tf.feats.shape[1]
    x = torch.from_numpy(np.ascontiguousarray(tf.feats, dtype=np.float32))
    proj = x @ w[:, : 4 * d].reshape(h, 4, d).permute(2, 1, 0).reshape(d, 4 * h)  # [n_tok, 4h]
    proj = proj.reshape(-1, 4, h)
    zero = torch.zeros((1, h))
    c_mean = torch.cat([zero, torch.cumsum(proj[:, 0], 0)])
    c_sent = torch.cat([zero, torch.cumsum(proj[:, 3], 0)])
    a, b, sa, sb = (torch.from_numpy(v) for v in token_ranges(tf, spans, sentences))
    hid = (
        (c_mean[b] - c_mean[a]) / (b - a)[:, None]
        + proj[a, 1]
        + proj[b - 1, 2]
        + (c_sent[sb] - c_sent[sa]) / (sb - sa)[:, None]
    )
    xd = torch.from_numpy(dense) / head.dense_scale
    hid = hid + xd @ w[:, 4 * d :].T + head.hidden.bias
    return head.out(torch.nn.functional.gelu(hid))


def decode(
    cands: Candidates,
    probs: np.ndarray,
    labels: Sequence[str],
    thresholds: dict[str, float],
    text: str,
    yields_to: dict[str, list[str]] | None = None,
    source: str = "spancat",
) -> list[Span]:
    """Per label: candidates at or above the threshold, greedy non-maximum suppression (a span
    overlapping a higher-scored span of its label is dropped), precedence, trimmed edges."""
    out: list[Span] = []
    for k, label in enumerate(labels):
        th = float(thresholds.get(label, 0.5))
        idx = np.flatnonzero(probs[:, k] >= th)
        if len(idx) == 0:
            continue
        idx = idx[np.argsort(-probs[idx, k], kind="stable")]
        kept: list[tuple[int, int]] = []
        for i in idx.tolist():
            s, e = cands.spans[i]
            t = trim(text, s, e, keep_end="？?！!" if label == "rhetorical_question" else "")
            if t is None:
                continue
            s, e = t
            if any(s < b and a < e for a, b in kept):
                continue
            kept.append((s, e))
            out.append(Span(s, e, label, float(probs[i, k]), source))
    if yields_to:
        out = apply_precedence(out, yields_to)
    return sorted(out)


# --------------------------------------------------------------------------------------------
# the detector


def headline_input(doc: Document, lead_chars: int) -> str | None:
    """The headline and the first ``lead_chars`` characters of the body, or None without one."""
    ts = title_of(doc)
    if ts is None:
        return None
    head = doc.text[ts[0] : ts[1]].strip()
    body = doc.text[ts[1] :].strip()[:lead_chars]
    return head + ("\n" + body if body else "")


class SpanCatDetector:
    """Detector protocol implementation for a saved span-classifier model directory."""

    def __init__(
        self,
        path: str | Path,
        precision: str = "auto",
        batch_size: int = 16,
        num_threads: int | None = None,
        sources: str = "release",
    ) -> None:
        import torch
        from safetensors.torch import load_file

        self.path = Path(path)
        self.meta = read_meta(self.path, FORMAT)
        missing = [f for f in ("config.json", "model.safetensors", HEAD_FILE) if not (self.path / f).exists()]
        if missing:
            raise FileNotFoundError(f"{self.path}: span-classifier model without {', '.join(missing)}")
        lacking = [k for k in ("labels", "suggesters", "layers") if k not in self.meta]
        if lacking:
            raise ValueError(f"{self.path / MODEL_JSON}: missing {', '.join(lacking)}")
        try:
            check_names(self.meta["suggesters"])
        except ValueError as e:
            raise ValueError(f"{self.path}: {e} (a newer huashu wrote this model?)") from None
        if precision == "auto":
            precision = str(self.meta.get("precision", "bf16"))
        if num_threads:
            torch.set_num_threads(int(num_threads))
        self.labels: list[str] = list(self.meta["labels"])
        self.suggesters: list[str] = list(self.meta["suggesters"])
        self.rule_features = bool(self.meta.get("rule_features", True))
        self.encoder = Encoder(
            self.path,
            self.meta["layers"],
            precision,
            int(self.meta.get("max_length", 256)),
            int(self.meta.get("stride", 64)),
            int(batch_size),
        )
        self.precision = precision
        self.head = build_head(
            4 * self.encoder.dim,
            len(dense_names(self.suggesters, self.labels)),
            len(self.labels),
            int(self.meta.get("hidden", 256)),
        )
        try:
            self.head.load_state_dict(load_file(str(self.path / HEAD_FILE)))
        except RuntimeError as e:
            raise ValueError(f"{self.path}: the classifier does not match huashu_model.json ({e})") from None
        self.head.eval()
        self.thresholds = {k: float(v) for k, v in self.meta.get("thresholds", {}).items()}
        if sources not in ("release", *SPAN_SOURCES):
            raise ValueError(f"sources {sources!r}: release, {', '.join(SPAN_SOURCES)}")
        hl = self.meta.get("headline") or {}
        every = [*self.labels, *([hl["label"]] if hl.get("label") else [])]
        self.label_sources: dict[str, str] = (
            dict(self.meta.get("label_sources") or {})
            if sources == "release"
            else dict.fromkeys(every, sources)
        )
        self.headline_label: str | None = hl.get("label")
        self._hl_coef = np.array(hl.get("coef", []), dtype=np.float32)
        self._hl_intercept = float(hl.get("intercept", 0.0))
        self._hl_mean = np.array(hl.get("mean", []), dtype=np.float32)
        self._hl_scale = np.array(hl.get("scale", []), dtype=np.float32)
        self.headline_threshold = float(hl.get("threshold", 0.5))
        self.lead_chars = int(hl.get("lead_chars", 256))
        cal = self.meta.get("calibration") or {}
        self._cal_x = np.array(cal["x"], dtype=np.float64) if cal.get("x") else None
        self._cal_y = np.array(cal["y"], dtype=np.float64) if cal.get("y") else None
        self.rules = RulesDetector()
        self._hl_cache: dict[str, float] = {}
        self._cache_lock = threading.Lock()
        self.name = str(self.meta.get("name", self.path.name))
        self.version = str(self.meta.get("version", "0"))

    def __repr__(self) -> str:
        return f"SpanCatDetector({str(self.path)!r}, precision={self.precision!r})"

    def _calibrated(self, span: Span) -> Span:
        """The span's score mapped through the cross-validated reliability curve (``calibration`` in
        huashu_model.json: raw score → expected share of the span inside a gold span of its label)."""
        if self._cal_x is None:
            return span
        p = float(np.interp(span.score, self._cal_x, self._cal_y))
        return Span(span.start, span.end, span.label, p, span.source)

    # ---- pieces (also used by training and active learning)

    def candidate_probabilities(
        self, docs: Sequence[Document], rule_spans: Sequence[list[Span]] | None = None
    ) -> list[tuple[SuggestContext, Candidates, np.ndarray]]:
        import torch

        rule_spans = rule_spans if rule_spans is not None else self.rules.detect_batch(list(docs))
        tfs = self.encoder.features([d.text for d in docs])
        out = []
        for doc, rs, tf in zip(docs, rule_spans, tfs, strict=True):
            ctx = SuggestContext(doc, list(rs) if self.rule_features else [])
            cands = suggest(ctx, self.suggesters)
            if not len(cands) or not len(tf):
                out.append((ctx, cands, np.zeros((0, len(self.labels)), np.float32)))
                continue
            dense = dense_features(ctx, cands, self.suggesters, self.labels, tf)
            with torch.inference_mode():
                logits = head_logits(self.head, tf, cands.spans, ctx.sentences, dense)
            out.append((ctx, cands, torch.sigmoid(logits).numpy()))
        return out

    def clickbait_probabilities(self, inputs: Sequence[str]) -> list[float]:
        if not len(self._hl_coef) or not inputs:
            return [0.0] * len(inputs)
        tfs = self.encoder.features(list(inputs))
        x = np.stack([tf.feats.mean(0) if len(tf) else np.zeros(self.encoder.dim, np.float32) for tf in tfs])
        z = ((x - self._hl_mean) / self._hl_scale) @ self._hl_coef + self._hl_intercept
        return [float(1 / (1 + math.exp(-v))) for v in z]

    def clickbait_probability(self, title: str) -> float:
        """P(clickbait) from the headline alone (no body lead)."""
        return self.clickbait_probabilities([title])[0]

    def clickbait_probability_doc(self, doc: Document) -> float | None:
        """P(clickbait) of the document's headline, seen with the body's lead (as trained); None
        without a headline or a headline head."""
        text = headline_input(doc, self.lead_chars)
        if text is None or not len(self._hl_coef):
            return None
        key = text_hash(text)
        p = self._hl_cache.get(key)
        if p is None:
            p = self.clickbait_probabilities([text])[0]
            self._remember(key, p)
        return p

    def _remember(self, key: str, p: float) -> None:
        with self._cache_lock:  # the server scores documents on several threads
            if len(self._hl_cache) > 256:
                self._hl_cache.pop(next(iter(self._hl_cache)), None)
            self._hl_cache[key] = p

    # ---- Detector protocol

    def detect_batch(
        self, docs: list[Document], thresholds: dict[str, float] | None = None
    ) -> list[list[Span]]:
        th = {**self.thresholds, **(thresholds or {})}
        source = f"{self.name}@{self.version}"
        rules = self.rules.detect_batch(list(docs))
        results: list[list[Span]] = []
        yields_to = self.rules.yields_to
        for (ctx, cands, probs), rs in zip(self.candidate_probabilities(docs, rules), rules, strict=True):
            model = [
                self._calibrated(x)
                for x in decode(cands, probs, self.labels, th, ctx.text, yields_to, source)
            ]
            span_rules = [x for x in rs if x.label != self.headline_label]
            results.append(release_spans(model, span_rules, self.label_sources, yields_to))
        if self.headline_label and self.label_sources.get(self.headline_label, "model") != "rules":
            titled = [(i, title_of(d), headline_input(d, self.lead_chars)) for i, d in enumerate(docs)]
            titled = [(i, ts, h) for i, ts, h in titled if ts is not None and h]
            probs = self.clickbait_probabilities([h for _, _, h in titled])
            for (i, (a, b), h), p in zip(titled, probs, strict=True):
                self._remember(text_hash(h), p)
                if p >= th.get(self.headline_label, self.headline_threshold):
                    results[i].append(Span(a, b, self.headline_label, p, source))
        elif self.headline_label:
            for i, rs in enumerate(rules):
                results[i] += [s for s in rs if s.label == self.headline_label]
        return [sorted(r) for r in results]

    def detect(self, doc: Document) -> list[Span]:
        return self.detect_batch([doc])[0]

    def token_uncertainty(self, doc: Document) -> float:
        """Mean over the most confident candidates of their binary entropy (bits): how unsure the
        classifier is about the spans it would mark or nearly mark (for `studio next`)."""
        _, _, probs = self.candidate_probabilities([doc])[0]
        if not len(probs):
            return 0.0
        p = np.clip(probs.max(1), 1e-6, 1 - 1e-6)
        top = np.sort(p)[-max(1, len(p) // 20) :]
        h = -(top * np.log2(top) + (1 - top) * np.log2(1 - top))
        return float(h.mean())


union_spans = _union  # one merge of same-label overlaps for the tagger and the classifier


def release_spans(
    model: Sequence[Span], rules: Sequence[Span], sources: dict[str, str], yields_to: dict[str, list[str]]
) -> list[Span]:
    """The released combination, used by the detector and by its evaluation alike: per label the
    model's spans, the rules' or both (``sources``: model / rules / union; labels missing from it take
    the model's), same-label overlaps merged, then the taxonomy's precedence."""
    keep = [sp for sp in model if sources.get(sp.label, "model") in ("model", "union")]
    keep += [sp for sp in rules if sources.get(sp.label, "model") in ("rules", "union")]
    return sorted(apply_precedence(union_spans(keep), yields_to))
