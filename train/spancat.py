"""Training, cross-validation and export of the span classifier (:mod:`huashu.spancat`).

``huashu train|eval|export --config spancat`` come here when the config says ``arch: spancat``.

Why this design: a token tagger over the same encoder, fine-tuned or frozen, scored 0.16–0.28
partial micro-F1 in cross-validation against the rules' 0.37 (train/reports/cv3-prior-bias,
frozen-head-167); proposing whole candidate spans (words, idioms, clauses, sentences, rule hits)
and classifying each from pooled encoder features lets ~100 articles teach far more.

Speed: encoder features are cached per text (``<data dir>/spancat/features/<base>/<sha256>.npy``,
all hidden states, bf16 run, float16 stored), so a cross-validation run only trains the small MLP.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from huashu.errors import UserError
from huashu.machine import describe, machine
from huashu.metrics import binary_scores, choose_sources, false_alarm_density, span_scores
from huashu.paths import data_dir
from huashu.rules import RulesDetector
from huashu.spancat import (
    FORMAT,
    HEAD_FILE,
    MODEL_JSON,
    Encoder,
    TokenFeatures,
    build_head,
    decode,
    dense_features,
    headline_input,
    pooled_features,
    release_spans,
    union_spans,
)
from huashu.spans import Document, Span
from huashu.suggest import SUGGESTERS, SuggestContext, by_suggester, check_names, suggest
from huashu.train.base import resolve_base
from huashu.train.dataset import (
    Example,
    headline_split,
    kfold,
    load_gold,
    load_hancd,
    rules_dev_ids,
    span_labels,
    subset_ids,
    test_split_ids,
)

log = logging.getLogger(__name__)

ALL_LAYERS = tuple(range(13))


# --------------------------------------------------------------------------------------------
# configuration (dataclass arguments, yaml config, --set overrides)


@dataclass
class SpanCatConfig:
    name: str = "spancat"
    arch: str = "spancat"
    base: str = field(default="e5-small-zh", metadata={"help": "base encoder: name, directory or hub id"})
    layers: list[int] = field(default_factory=lambda: [3, 6, 9])
    keep_layers: int = field(
        default=0, metadata={"help": "encoder layers kept in the export (0: max(layers))"}
    )
    suggesters: list[str] = field(default_factory=lambda: list(SUGGESTERS))
    hidden: int = 256
    dropout: float = 0.2
    epochs: int = 8
    lr: float = 1e-3
    batch_size: int = 512
    neg_fraction: float = field(default=0.35, metadata={"help": "negatives sampled per epoch"})
    target: str = field(
        default="iou", metadata={"help": "iou (soft: max IoU >= min_iou) | hard (IoU >= 0.5)"}
    )
    min_iou: float = 0.3
    seed: int = 13
    threshold_grid: list[float] = field(default_factory=lambda: [round(0.05 * i, 2) for i in range(2, 19)])
    validation_fraction: float = field(
        default=0.2, metadata={"help": "training articles held back for thresholds"}
    )
    threshold_objective: str = field(
        default="micro", metadata={"help": "micro (pooled F1) | label (each label's F1)"}
    )
    threshold_folds: int = field(
        default=0, metadata={"help": "inner folds for thresholds (0: one validation cut)"}
    )
    folds: int = 5
    curve: list[int] = field(default_factory=lambda: [25, 50, 100])
    max_length: int = field(default=256, metadata={"help": "encoder window, special tokens included"})
    stride: int = 64
    headline_lead: int = 256
    headline_c: float = 0.5
    max_docs: int = field(default=0, metadata={"help": "cap on gold articles (tests)"})
    measure_speed: bool = field(default=True, metadata={"help": "export: time the model on the seeds"})
    rule_features: bool = field(default=True, metadata={"help": "the rules' hits as classifier features"})

    @property
    def out_dir(self) -> Path:
        return data_dir() / "runs" / self.name


def load_spancat_config(path: Path, overrides: Sequence[str] = ()) -> SpanCatConfig:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--set {item!r}: expected key=value")
        data[key.strip()] = yaml.safe_load(value)
    known = {f.name for f in SpanCatConfig.__dataclass_fields__.values()}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        cfg = SpanCatConfig(**data)
        check_names(cfg.suggesters)
    except (TypeError, ValueError) as e:
        raise UserError(f"{path}: {e}") from None
    problems = []
    if not (isinstance(cfg.layers, list) and cfg.layers and all(isinstance(x, int) for x in cfg.layers)):
        problems.append(f"layers must be a list of layer numbers, got {cfg.layers!r}")
    elif not all(0 <= x < len(ALL_LAYERS) for x in cfg.layers):
        problems.append(f"layers {cfg.layers}: each in 0..{len(ALL_LAYERS) - 1} (0 = embeddings)")
    elif cfg.keep_layers and cfg.keep_layers < max(cfg.layers):
        problems.append(f"keep_layers {cfg.keep_layers} drops layer {max(cfg.layers)} the features need")
    if not 0 <= cfg.stride < cfg.max_length - 2:
        problems.append(f"stride {cfg.stride} must be in [0, max_length - 2 = {cfg.max_length - 2})")
    if cfg.target not in ("iou", "hard"):
        problems.append(f"target {cfg.target!r}: iou or hard")
    if cfg.threshold_objective not in ("micro", "label"):
        problems.append(f"threshold_objective {cfg.threshold_objective!r}: micro or label")
    if cfg.folds < 2:
        problems.append(f"folds {cfg.folds}: at least 2")
    if problems:
        raise UserError(f"{path}: " + "; ".join(problems))
    return cfg


def is_spancat(path: Path) -> bool:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("arch") == "spancat"


# --------------------------------------------------------------------------------------------
# feature cache


class FeatureCache:
    """Encoder features of every layer per text, on disk, keyed by (base, sha256 of the text)."""

    def __init__(
        self,
        base: str,
        root: Path | None = None,
        batch_size: int = 16,
        max_length: int = 256,
        stride: int = 64,
    ) -> None:
        self.base = base
        key = f"{base}|{max_length}|{stride}"
        self.root = (root or data_dir() / "spancat" / "features") / hashlib.sha256(key.encode()).hexdigest()[
            :12
        ]
        self.max_length, self.stride = max_length, stride
        self.root.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self._encoder: Encoder | None = None

    def _path(self, text: str) -> Path:
        return self.root / (hashlib.sha256(text.encode("utf-8")).hexdigest() + ".npz")

    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = Encoder(
                resolve_base(self.base), ALL_LAYERS, "bf16", self.max_length, self.stride, self.batch_size
            )
        return self._encoder

    def get(self, texts: Sequence[str], layers: Sequence[int], progress: bool = True) -> list[TokenFeatures]:
        from tqdm import tqdm

        missing = sorted({t for t in texts if not self._path(t).exists()}, key=len)
        if missing:
            enc = self.encoder()
            bar = tqdm(
                total=sum(len(t) for t in missing),
                desc="encoder features",
                unit="char",
                unit_scale=True,
                disable=not progress,
            )
            for k in range(0, len(missing), 8):
                chunk = missing[k : k + 8]
                for t, tf in zip(chunk, enc.features(chunk), strict=True):
                    tmp = self._path(t).with_suffix(".tmp.npz")
                    np.savez(tmp, feats=tf.feats.astype(np.float16), starts=tf.starts, ends=tf.ends)
                    tmp.replace(self._path(t))
                bar.update(sum(len(t) for t in chunk))
            bar.close()
        out = []
        for t in texts:
            z = np.load(self._path(t))
            f = z["feats"]
            h = f.shape[1] // len(ALL_LAYERS)
            cols = np.concatenate([np.arange(x * h, (x + 1) * h) for x in layers])
            out.append(TokenFeatures(f[:, cols], z["starts"], z["ends"]))
        return out


# --------------------------------------------------------------------------------------------
# per-document candidate tables


@dataclass
class DocTable:
    id: str
    doc: Document
    gold: list[Span]
    rule_spans: list[Span]
    ctx: SuggestContext
    cands: Any
    pooled: np.ndarray  # float16 [n, 4D]
    dense: np.ndarray  # float32 [n, E]
    target: np.ndarray  # float32 [n, L]


def iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    if inter <= 0:
        return 0.0
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def targets(
    spans: Sequence[tuple[int, int]], gold: Sequence[Span], labels: Sequence[str], mode: str, min_iou: float
) -> np.ndarray:
    y = np.zeros((len(spans), len(labels)), dtype=np.float32)
    if not spans:
        return y
    starts = np.array([s for s, _ in spans])
    ends = np.array([e for _, e in spans])
    for g in gold:
        if g.label not in labels:
            continue
        k = labels.index(g.label)
        hit = np.flatnonzero((starts < g.end) & (ends > g.start))
        for i in hit:
            v = iou(spans[i], (g.start, g.end))
            v = (1.0 if v >= 0.5 else 0.0) if mode == "hard" else (v if v >= min_iou else 0.0)
            y[i, k] = max(y[i, k], v)
    return y


def build_tables(
    examples: Sequence[Example], cfg: SpanCatConfig, cache: FeatureCache, progress: bool = True
) -> list[DocTable]:
    from tqdm import tqdm

    labels = span_labels()
    rules = RulesDetector()
    tfs = cache.get([ex.doc.text for ex in examples], cfg.layers, progress)
    out = []
    for ex, tf in tqdm(list(zip(examples, tfs, strict=True)), desc="candidates", disable=not progress):
        rs = rules.detect(ex.doc)
        ctx = SuggestContext(ex.doc, rs if cfg.rule_features else [])
        cands = suggest(ctx, cfg.suggesters)
        pooled = pooled_features(tf, cands.spans, ctx.sentences).astype(np.float16)
        dense = dense_features(ctx, cands, cfg.suggesters, labels, tf)
        y = targets(cands.spans, ex.spans, labels, cfg.target, cfg.min_iou)
        out.append(
            DocTable(
                ex.doc.id,
                ex.doc,
                [s for s in ex.spans if s.label in labels],
                rs,
                ctx,
                cands,
                pooled,
                dense,
                y,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# training


def train_head(tables: Sequence[DocTable], cfg: SpanCatConfig, progress: bool = False) -> Any:
    import torch

    labels = span_labels()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    pooled = np.concatenate([t.pooled for t in tables])
    dense = np.concatenate([t.dense for t in tables])
    y = np.concatenate([t.target for t in tables])
    pos_rows = np.flatnonzero(y.max(1) > 0)
    neg_rows = np.flatnonzero(y.max(1) == 0)
    d_scale = np.maximum(dense.std(0), 1e-3)
    head = build_head(pooled.shape[1], dense.shape[1], len(labels), cfg.hidden, cfg.dropout)
    head.dense_scale.copy_(torch.tensor(d_scale, dtype=torch.float32))
    pos = (y > 0).sum(0) + 1.0
    neg_w = 1.0 / max(cfg.neg_fraction, 1e-3)
    n_eff = len(pos_rows) + len(neg_rows)
    pw = torch.tensor(np.clip(np.sqrt((n_eff - pos) / pos), 1, 30), dtype=torch.float32)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=0.01)
    steps_per_epoch = (len(pos_rows) + int(len(neg_rows) * cfg.neg_fraction)) // cfg.batch_size + 1
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch + 1
    )
    for _ in range(cfg.epochs):
        head.train()
        rows = np.concatenate(
            [pos_rows, rng.choice(neg_rows, int(len(neg_rows) * cfg.neg_fraction), replace=False)]
        )
        rng.shuffle(rows)
        for k in range(0, len(rows), cfg.batch_size):
            r = np.sort(rows[k : k + cfg.batch_size])
            xp = torch.from_numpy(pooled[r].astype(np.float32))
            xd = torch.from_numpy(dense[r]) / head.dense_scale
            yt = torch.from_numpy(y[r])
            w = torch.where(yt.max(1, keepdim=True).values > 0, 1.0, neg_w).expand_as(yt)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits = head(xp, xd)
            loss = (
                torch.nn.functional.binary_cross_entropy_with_logits(
                    logits.float(), yt, pos_weight=pw, weight=w
                )
                / neg_w
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return head.eval()


def predict(head: Any, t: DocTable) -> np.ndarray:
    import torch

    if not len(t.pooled):
        return np.zeros((0, len(span_labels())), np.float32)
    with torch.inference_mode():
        xd = torch.from_numpy(t.dense) / head.dense_scale
        out = []
        for k in range(0, len(t.pooled), 4096):
            out.append(
                torch.sigmoid(
                    head(torch.from_numpy(t.pooled[k : k + 4096].astype(np.float32)), xd[k : k + 4096])
                ).numpy()
            )
    return np.concatenate(out)


def decode_all(
    tables: Sequence[DocTable],
    probs: dict[str, np.ndarray],
    thresholds: dict[str, float],
    yields_to: dict[str, list[str]],
) -> dict[str, list[Span]]:
    labels = span_labels()
    return {t.id: decode(t.cands, probs[t.id], labels, thresholds, t.ctx.text, yields_to) for t in tables}


def choose_thresholds(
    tables: Sequence[DocTable],
    probs: dict[str, np.ndarray],
    grid: Sequence[float],
    yields_to: dict[str, list[str]],
    objective: str = "micro",
) -> dict[str, float]:
    """Per-label thresholds on these (validation) articles: ``label`` takes each label's best
    partial F1; ``micro`` climbs on the pooled micro partial F1 (``choose_sources`` over the grid:
    a weak label gets a higher threshold instead of flooding the pool with false alarms)."""
    labels = span_labels()
    gold = {t.id: t.gold for t in tables}
    per_th = {
        f"{th:g}": span_scores(gold, decode_all(tables, probs, dict.fromkeys(labels, th), yields_to), labels)
        for th in grid
    }
    if objective == "micro":
        choice, _ = choose_sources(per_th, labels)
        return {lb: float(choice[lb]) for lb in labels}
    best = {lb: max(per_th, key=lambda k, lb=lb: (per_th[k][lb]["partial_f1"], -float(k))) for lb in labels}
    return {lb: float(best[lb]) for lb in labels}


def fit(tables: Sequence[DocTable], cfg: SpanCatConfig, yields_to: dict[str, list[str]]) -> tuple[Any, dict]:
    """Choose per-label thresholds on held-back training articles, then train on everything.

    ``threshold_folds`` ≥ 2: out-of-fold probabilities of an inner k-fold over the training
    articles (every article helps choose); otherwise one validation cut (``validation_fraction``)."""
    ids = sorted(t.id for t in tables)
    if cfg.threshold_folds >= 2 and len(ids) >= 2 * cfg.threshold_folds:
        by_id = {t.id: t for t in tables}
        oof: dict[str, np.ndarray] = {}
        for tr_ids, va_ids in kfold(ids, cfg.threshold_folds, cfg.seed + 1):
            inner = train_head([by_id[i] for i in tr_ids], cfg)
            oof.update({i: predict(inner, by_id[i]) for i in va_ids})
        th = choose_thresholds(tables, oof, cfg.threshold_grid, yields_to, cfg.threshold_objective)
        return train_head(tables, cfg), th
    order = sorted(ids, key=lambda d: hashlib.sha256(f"val{cfg.seed}:{d}".encode()).hexdigest())
    n_val = max(1, round(len(ids) * cfg.validation_fraction)) if len(ids) > 2 else 0
    if not n_val:  # too few articles to hold any back: thresholds on the training articles themselves
        head = train_head(tables, cfg)
        return head, choose_thresholds(
            tables,
            {t.id: predict(head, t) for t in tables},
            cfg.threshold_grid,
            yields_to,
            cfg.threshold_objective,
        )
    val = set(order[:n_val])
    tr = [t for t in tables if t.id not in val]
    va = [t for t in tables if t.id in val]
    head = train_head(tr, cfg)
    th = choose_thresholds(
        va, {t.id: predict(head, t) for t in va}, cfg.threshold_grid, yields_to, cfg.threshold_objective
    )
    head = train_head(tables, cfg)
    return head, th


# --------------------------------------------------------------------------------------------
# cross-validation


def cross_validate(
    tables: Sequence[DocTable],
    cfg: SpanCatConfig,
    n_train: int = 0,
    baselines: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """k folds by article: spancat, rules and TF-IDF predicted on the same test articles (TF-IDF
    and spancat fitted on the same training articles, thresholds chosen inside them)."""
    from tqdm import tqdm

    from huashu.train.baselines import TfidfClauseTagger

    labels = span_labels()
    yields_to = RulesDetector().yields_to
    by_id = {t.id: t for t in tables}
    preds: dict[str, dict[str, list[Span]]] = {"spancat": {}, "rules": {}, "tfidf": {}}
    probs: dict[str, np.ndarray] = {}
    thresholds = []
    sizes = []
    for train_ids, test_ids in tqdm(
        kfold(sorted(by_id), cfg.folds, cfg.seed), desc="folds", disable=not progress
    ):
        if n_train:
            train_ids = subset_ids(train_ids, n_train, cfg.seed)
        sizes.append(len(train_ids))
        head, th = fit([by_id[i] for i in train_ids], cfg, yields_to)
        thresholds.append(th)
        test = [by_id[i] for i in test_ids]
        for t in test:
            probs[t.id] = predict(head, t)
        preds["spancat"].update(decode_all(test, probs, th, yields_to))
        for t in test:
            preds["rules"][t.id] = [s for s in t.rule_spans if s.label in labels]
        if baselines:
            tf = TfidfClauseTagger(labels, seed=cfg.seed).fit(
                [by_id[i].doc for i in train_ids], [by_id[i].gold for i in train_ids]
            )
            for t, spans in zip(test, tf.detect_batch([t.doc for t in test]), strict=True):
                preds["tfidf"][t.id] = spans
    if not baselines:
        del preds["tfidf"]
    gold = {t.id: t.gold for t in tables}
    scores = {k: span_scores(gold, v, labels) for k, v in preds.items()}
    union = {i: union_spans(preds["spancat"][i] + preds["rules"][i]) for i in gold}
    scores["spancat+rules"] = span_scores(gold, union, labels)
    choice, f1 = choose_sources(
        {"model": scores["spancat"], "rules": scores["rules"], "union": scores["spancat+rules"]}, labels
    )
    empty = {t.id: len(t.doc.text) for t in tables if not t.gold}
    return {
        "scores": scores,
        "label_sources": choice,
        "combined_micro_f1": f1,
        "false_alarms_per_1000": {k: false_alarm_density(v, empty) for k, v in preds.items()},
        "no_span_articles": len(empty),
        "thresholds": thresholds,
        "train_articles_per_fold": sizes,
        "articles": len(tables),
        "preds": preds,
        "probs": probs,
    }


def suggester_table(tables: Sequence[DocTable], names: Sequence[str]) -> dict[str, Any]:
    """Per suggester (and all together): candidates per 1,000 characters and, per label, the share
    of gold spans with a candidate at IoU ≥ 0.5 (the classifier's recall ceiling)."""
    labels = span_labels()
    chars = sum(len(t.doc.text) for t in tables) or 1
    rows: dict[str, Any] = {}
    per: dict[str, dict[str, list[tuple[int, int]]]] = {t.id: by_suggester(t.ctx, names) for t in tables}
    for name in [*names, "all"]:
        n_c = 0
        hit = dict.fromkeys(labels, 0)
        tot = dict.fromkeys(labels, 0)
        for t in tables:
            spans = t.cands.spans if name == "all" else per[t.id][name]
            n_c += len(spans)
            starts = np.array([s for s, _ in spans] or [0])
            for g in t.gold:
                tot[g.label] += 1
                lo = max(0, int(np.searchsorted(starts, g.start - 200)))
                if any(iou(c, (g.start, g.end)) >= 0.5 for c in spans[lo:] if c[0] < g.end):
                    hit[g.label] += 1
        n_gold = sum(tot.values()) or 1
        rows[name] = {
            "per_1000": 1000 * n_c / chars,
            "recall": sum(hit.values()) / n_gold,
            "per_label": {lb: hit[lb] / tot[lb] if tot[lb] else 0.0 for lb in labels},
        }
    return rows


# --------------------------------------------------------------------------------------------
# headline (clickbait): logistic regression over encoder features of headline + body lead


@dataclass
class HeadlineData:
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    train_text: list[str]
    test_text: list[str]


def headline_data(
    cfg: SpanCatConfig, cache: FeatureCache, exclude: set[str], progress: bool = True, max_docs: int = 0
) -> HeadlineData:
    """HanCD headlines with their clickbait labels, held out by a hash of the headline text (the
    split every headline figure in huashu uses); inputs are headline + the first
    ``headline_lead`` body characters; articles in ``exclude`` (the frozen test split) are left out."""
    from huashu.train.dataset import Headline

    docs = [d for d in load_hancd() if "clickbait_label" in d.meta and d.id not in exclude]
    if max_docs:
        docs = docs[:max_docs]
    items, inputs = [], {}
    for d in docs:
        text = headline_input(d, cfg.headline_lead)
        ts = d.title_span
        if text is None or ts is None:
            continue
        items.append(Headline(d.text[ts[0] : ts[1]], int(d.meta["clickbait_label"]), d.id))
        inputs[d.id] = text
    train, test = headline_split(items, 0.2)
    texts = [inputs[h.doc_id] for h in train + test]
    tfs = cache.get(texts, cfg.layers, progress)
    x = np.stack([tf.feats.astype(np.float32).mean(0) for tf in tfs])
    n = len(train)
    return HeadlineData(
        x[:n],
        np.array([h.label for h in train]),
        x[n:],
        np.array([h.label for h in test]),
        texts[:n],
        texts[n:],
    )


def fit_headline(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> Any:
    return _lr(c, seed).fit(x, y)


def headline_scores(hd: HeadlineData, cfg: SpanCatConfig) -> dict[str, Any]:
    """Held-out accuracy of the encoder LR and of TF-IDF on the same inputs and on headlines alone;
    C chosen by 5-fold CV on the training headlines."""
    from sklearn.model_selection import cross_val_score

    from huashu.train.baselines import TfidfHeadline

    grid = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
    cv = {c: float(np.mean(cross_val_score(_lr(c, cfg.seed), hd.train_x, hd.train_y, cv=5))) for c in grid}
    best_c = max(cv, key=cv.get)
    clf = fit_headline(hd.train_x, hd.train_y, best_c, cfg.seed)
    pred = clf.predict(hd.test_x)
    tf = TfidfHeadline(seed=cfg.seed).fit(hd.train_text, hd.train_y.tolist())
    tf_prob = tf.predict_proba(hd.test_text)
    tf_pred = [int(p >= 0.5) for p in tf_prob]
    mean_prob = (clf.predict_proba(hd.test_x)[:, 1] + np.array(tf_prob)) / 2
    heads_tr = [t.split("\n")[0] for t in hd.train_text]
    heads_te = [t.split("\n")[0] for t in hd.test_text]
    tf_h = TfidfHeadline(seed=cfg.seed).fit(heads_tr, hd.train_y.tolist())
    tf_h_pred = [int(p >= 0.5) for p in tf_h.predict_proba(heads_te)]
    return {
        "n_train": len(hd.train_y),
        "n_test": len(hd.test_y),
        "lead_chars": cfg.headline_lead,
        "c_cv": cv,
        "c": best_c,
        "encoder_lr": binary_scores(hd.test_y.tolist(), pred.tolist()),
        "tfidf_headline_lead": binary_scores(hd.test_y.tolist(), tf_pred),
        "mean_encoder_tfidf": binary_scores(hd.test_y.tolist(), (mean_prob >= 0.5).astype(int).tolist()),
        "tfidf_headline": binary_scores(hd.test_y.tolist(), tf_h_pred),
    }


def _lr(c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, random_state=seed))


# --------------------------------------------------------------------------------------------
# evaluation: `huashu eval --config spancat`


def dev_examples(cfg: SpanCatConfig) -> tuple[list[Example], list[Example]]:
    """(gold outside the frozen test split, the test split's gold)."""
    test_ids = test_split_ids()
    gold = load_gold()
    dev = [e for e in gold if e.doc.id not in test_ids]
    test = [e for e in gold if e.doc.id in test_ids]
    if cfg.max_docs:
        dev, test = dev[: cfg.max_docs], test[: max(2, cfg.max_docs // 2)]
    return dev, test


def _micro(s: dict[str, Any]) -> dict[str, float]:
    m = s["micro"]
    return {k: round(float(m[k]), 4) for k in ("partial_p", "partial_r", "partial_f1", "exact_f1")}


def source_scores(
    gold: dict[str, list[Span]], model: dict[str, list[Span]], rules: dict[str, list[Span]]
) -> dict[str, Any]:
    """``span_scores`` of the classifier, the rules and their union on the articles of ``gold``: what
    :func:`huashu.metrics.choose_sources` picks each label's source from."""
    labels = span_labels()
    return {
        "model": span_scores(gold, {i: model[i] for i in gold}, labels),
        "rules": span_scores(gold, {i: rules[i] for i in gold}, labels),
        "union": span_scores(gold, {i: union_spans(model[i] + rules[i]) for i in gold}, labels),
    }


def source_choice(cv: dict[str, Any], tables: Sequence[DocTable], fresh: set[str]) -> dict[str, Any]:
    """Per label model / rules / union, chosen by ``choose_sources`` on the CV predictions of the
    articles the rules were not written on (all articles when there are none)."""
    labels = span_labels()
    ids = [t.id for t in tables if t.id in fresh] or [t.id for t in tables]
    gold = {t.id: t.gold for t in tables if t.id in set(ids)}
    scores = source_scores(gold, cv["preds"]["spancat"], cv["preds"]["rules"])
    choice, f1 = choose_sources(scores, labels)
    return {
        "articles": len(gold),
        "label_sources": choice,
        "micro_f1": f1,
        "per_source_micro": {k: _micro(v) for k, v in scores.items()},
        "per_label": {
            k: {lb: round(float(v[lb]["partial_f1"]), 4) for lb in labels} for k, v in scores.items()
        },
    }


CURVE_SYSTEMS = ("spancat", "tfidf", "rules")


def learning_curve(
    tables: Sequence[DocTable],
    cfg: SpanCatConfig,
    full: dict[str, Any],
    sizes: Sequence[int],
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Partial micro-F1 of spancat, TF-IDF and rules with the training folds of ``full`` (a
    :func:`cross_validate` run on ``tables``) cut to each of ``sizes`` (nested subsets, the same test
    folds), ending with the full folds' own point."""
    n_max = min(full["train_articles_per_fold"])

    def point(n: int, cv: dict[str, Any]) -> dict[str, Any]:
        micro = {k: round(float(cv["scores"][k]["micro"]["partial_f1"]), 4) for k in CURVE_SYSTEMS}
        return {"n_train": n, **micro}

    smaller = sorted(n for n in set(sizes) if n < n_max)
    points = [point(n, cross_validate(tables, cfg, n_train=n, progress=progress)) for n in smaller]
    return [*points, point(n_max, full)]


def combine(model: list[Span], rules: list[Span], sources: dict[str, str]) -> list[Span]:
    """The detector's own combination (:func:`huashu.spancat.release_spans`)."""
    return release_spans(model, rules, sources, RulesDetector().yields_to)


def evaluate(
    cfg: SpanCatConfig, out_dir: Path, score_test: bool = False, progress: bool = True, command: str = ""
) -> dict[str, Any]:
    """Suggester ceilings, k-fold CV (spancat vs rules vs TF-IDF, per label), per-label source
    choice, learning curve, false alarms, headlines; with ``score_test`` the frozen test split once."""
    from huashu.train.baselines import TfidfClauseTagger

    t0 = time.monotonic()
    labels = span_labels()
    out_dir.mkdir(parents=True, exist_ok=True)
    dev, test = dev_examples(cfg)
    cache = FeatureCache(cfg.base, max_length=cfg.max_length, stride=cfg.stride)
    tables = build_tables(dev, cfg, cache, progress)
    log.info("suggesters: recall ceiling on %d articles", len(tables))
    sug = suggester_table(tables, cfg.suggesters)
    cv = cross_validate(tables, cfg, progress=progress)
    fresh = {t.id for t in tables} - rules_dev_ids()
    choice = source_choice(cv, tables, fresh)
    gold = {t.id: t.gold for t in tables}
    released = {
        i: combine(cv["preds"]["spancat"][i], cv["preds"]["rules"][i], choice["label_sources"]) for i in gold
    }
    cv["scores"]["release"] = span_scores(gold, released, labels)
    empty = {t.id: len(t.doc.text) for t in tables if not t.gold}
    cv["false_alarms_per_1000"]["release"] = false_alarm_density(released, empty)
    curve = learning_curve(tables, cfg, cv, cfg.curve, progress)
    head = headline_scores(
        headline_data(cfg, cache, test_split_ids(), progress, cfg.max_docs * 8 if cfg.max_docs else 0),
        cfg,
    )
    summary: dict[str, Any] = {
        "command": command,
        "config": asdict(cfg),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "data": {
            "dev_articles": len(tables),
            "dev_spans": sum(len(t.gold) for t in tables),
            "fresh_for_rules": len(fresh & set(gold)),
            "no_span_articles": len(empty),
            "test_articles": len(test),
        },
        "suggesters": sug,
        "cv": {
            "folds": cfg.folds,
            "train_articles_per_fold": cv["train_articles_per_fold"],
            "scores": {
                k: {
                    lb: {m: round(float(x), 4) if isinstance(x, float) else x for m, x in v.items()}
                    for lb, v in s.items()
                }
                for k, s in cv["scores"].items()
            },
            "false_alarms_per_1000": {k: round(v, 3) for k, v in cv["false_alarms_per_1000"].items()},
            "thresholds": cv["thresholds"],
        },
        "source_choice": choice,
        "curve": curve,
        "headline": head,
    }
    if score_test:
        yields_to = RulesDetector().yields_to
        head_model, th = fit(tables, cfg, yields_to)
        ttables = build_tables(test, cfg, cache, progress)
        probs = {t.id: predict(head_model, t) for t in ttables}
        sp = decode_all(ttables, probs, th, yields_to)
        tgold = {t.id: t.gold for t in ttables}
        rules_p = {t.id: [s for s in t.rule_spans if s.label in labels] for t in ttables}
        tf = TfidfClauseTagger(labels, seed=cfg.seed).fit([t.doc for t in tables], [t.gold for t in tables])
        tf_p = dict(zip(tgold, tf.detect_batch([t.doc for t in ttables]), strict=True))
        rel = {i: combine(sp[i], rules_p[i], choice["label_sources"]) for i in tgold}
        preds = {"spancat": sp, "rules": rules_p, "tfidf": tf_p, "release": rel}
        t_empty = {t.id: len(t.doc.text) for t in ttables if not t.gold}
        summary["test"] = {
            "articles": len(ttables),
            "spans": sum(len(v) for v in tgold.values()),
            "scores": {k: span_scores(tgold, v, labels) for k, v in preds.items()},
            "false_alarms_per_1000": {k: round(false_alarm_density(v, t_empty), 3) for k, v in preds.items()},
            "no_span_articles": len(t_empty),
        }
    calib = calibration(tables, cv["preds"]["spancat"])
    summary["calibration"] = reliability(calib)
    summary["seconds"] = round(time.monotonic() - t0, 1)
    # report.json holds article text: it stays in the run directory (notebooks/error_analysis.ipynb)
    full = {
        "labels": labels,
        "scores": {
            "model": cv["scores"]["spancat"],
            "rules": cv["scores"]["rules"],
            "tfidf": cv["scores"]["tfidf"],
            "combined": cv["scores"]["release"],
        },
        "data": {"gold_docs": len(tables), "gold_spans": summary["data"]["dev_spans"], "folds": cfg.folds},
        "calibration": calib,
        "learning_curve": [
            {"n_train": r["n_train"], "model": r["spancat"], "tfidf": r["tfidf"]} for r in curve
        ],
        "documents": [
            {
                "id": t.id,
                "text": t.doc.text,
                "gold": [g.to_dict() for g in t.gold],
                "pred": {
                    k: [x.to_dict() for x in v[t.id]]
                    for k, v in (
                        ("model", cv["preds"]["spancat"]),
                        ("rules", cv["preds"]["rules"]),
                        ("tfidf", cv["preds"]["tfidf"]),
                        ("combined", released),
                    )
                },
            }
            for t in tables
        ],
    }
    (out_dir / "report.json").write_text(json.dumps(full, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "summary.json").write_text(
        json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out_dir / "report.md").write_text(markdown(summary), encoding="utf-8")
    return summary


def calibration(tables: Sequence[DocTable], pred: dict[str, list[Span]]) -> list[dict[str, Any]]:
    """Each predicted span's score and the fraction of its characters inside a gold span of its label."""
    out = []
    for t in tables:
        for p in pred.get(t.id, []):
            inside = set()
            for g in t.gold:
                if g.label == p.label:
                    inside.update(range(max(p.start, g.start), min(p.end, g.end)))
            out.append(
                {
                    "label": p.label,
                    "score": round(p.score, 4),
                    "hit": round(len(inside) / (p.end - p.start), 4),
                }
            )
    return out


def reliability(calib: Sequence[dict[str, Any]], n_bins: int = 10) -> dict[str, Any]:
    """Reliability table of span scores (10 bins) and the expected calibration error."""
    if not calib:
        return {"bins": [], "ece": None, "spans": 0}
    sc = np.array([c["score"] for c in calib])
    hit = np.array([c["hit"] for c in calib])
    idx = np.clip((sc * n_bins).astype(int), 0, n_bins - 1)
    bins = []
    ece = 0.0
    for b in range(n_bins):
        m = idx == b
        if m.any():
            bins.append(
                {
                    "from": b / n_bins,
                    "to": (b + 1) / n_bins,
                    "n": int(m.sum()),
                    "mean_score": round(float(sc[m].mean()), 4),
                    "hit_rate": round(float(hit[m].mean()), 4),
                }
            )
            ece += m.sum() / len(sc) * abs(sc[m].mean() - hit[m].mean())
    return {"bins": bins, "ece": round(float(ece), 4), "spans": len(sc)}


def calibration_map(bins: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """A monotone piecewise-linear map from raw span score to the cross-validated share of the span
    inside gold (the reliability bins, isotonic by a running maximum, anchored at 0 and 1)."""
    xs = [0.0] + [float(b["mean_score"]) for b in bins] + [1.0]
    ys = [0.0] + [float(b["hit_rate"]) for b in bins]
    ys.append(ys[-1])
    ys = np.maximum.accumulate(np.array(ys)).round(4).tolist()
    return {"x": [round(x, 4) for x in xs], "y": ys}


def scores_table(scores: dict[str, Any], systems: Sequence[str], labels: Sequence[str]) -> list[str]:
    """Markdown rows: per-label partial F1 and micro P / R / F1 of each system present in ``scores``."""
    head = [
        "| system | " + " | ".join(lb.replace("_", " ") for lb in labels) + " | micro P / R / F1 |",
        "|---|" + "---|" * (len(labels) + 1),
    ]
    return head + [_row(name, scores[name], labels) for name in systems if name in scores]


def _row(name: str, s: dict[str, Any], labels: Sequence[str]) -> str:
    return (
        f"| {name} | "
        + " | ".join(f"{float(s[lb]['partial_f1']):.2f}" for lb in labels)
        + f" | {float(s['micro']['partial_p']):.2f} / {float(s['micro']['partial_r']):.2f} / "
        f"**{float(s['micro']['partial_f1']):.3f}** |"
    )


def markdown(s: dict[str, Any]) -> str:
    labels = span_labels()
    short = [lb.replace("_", " ") for lb in labels]
    d = s["data"]
    lines = [
        "# Span classifier (suggest and classify): evaluation",
        "",
        f"- command: `{s['command']}`",
        f"- machine: {describe(s['machine'])}; date {s['date']}; {s['seconds']:.0f} s",
        f"- data: {d['dev_articles']} gold articles outside the frozen test split ({d['dev_spans']} spans; "
        f"{d['fresh_for_rules']} of them never read while writing the rules; {d['no_span_articles']} with "
        f"no span); the test split ({d['test_articles']} articles, `labels/splits.yaml`) is "
        + ("scored once below." if "test" in s else "not touched."),
        "- metric: SemEval-2020 T11 partial-overlap F1, pooled over folds; "
        f"{s['cv']['folds']}-fold CV by article (`huashu.train.dataset.kfold`), per-label thresholds "
        "chosen on a validation cut inside each training fold.",
        "",
        "## Suggesters: candidates per 1,000 characters and recall ceiling (gold spans with a candidate "
        "at IoU ≥ 0.5)",
        "",
        "| suggester | per 1k chars | all labels | " + " | ".join(short) + " |",
        "|---|---|---|" + "---|" * len(labels),
    ]
    for name, r in s["suggesters"].items():
        lines.append(
            f"| {name} | {r['per_1000']:.1f} | {r['recall']:.3f} | "
            + " | ".join(f"{r['per_label'][lb]:.2f}" for lb in labels)
            + " |"
        )
    sc = s["cv"]["scores"]
    lines += [
        "",
        "## Cross-validated partial F1 per label (same test articles for every system)",
        "",
        *scores_table(sc, ("spancat", "rules", "tfidf", "spancat+rules", "release"), labels),
    ]
    fa = s["cv"]["false_alarms_per_1000"]
    lines += [
        "",
        "False alarms on the no-span articles (devices per 1,000 characters): "
        + ", ".join(f"{k} {v:.2f}" for k, v in fa.items())
        + ".",
        "",
        "The rules were revised reading their misses on part of these articles (`rules_dev` in "
        "`labels/splits.yaml`), so their CV figure is optimistic there. "
        f"Per-label sources are chosen on the other {s['source_choice']['articles']} articles: "
        + ", ".join(f"{lb} {src}" for lb, src in s["source_choice"]["label_sources"].items())
        + f" (micro F1 {s['source_choice']['micro_f1']:.3f} on those articles; model alone "
        f"{s['source_choice']['per_source_micro']['model']['partial_f1']:.3f}, rules alone "
        f"{s['source_choice']['per_source_micro']['rules']['partial_f1']:.3f}). The `release` row applies "
        "that choice to every CV article.",
        "",
        "## Learning curve (partial micro-F1, same test folds)",
        "",
        "| training articles per fold | spancat | TF-IDF | rules |",
        "|---|---|---|---|",
    ]
    for r in s["curve"]:
        lines.append(f"| {r['n_train']} | {r['spancat']:.3f} | {r['tfidf']:.3f} | {r['rules']:.3f} |")
    cal = s.get("calibration") or {}
    if cal.get("bins"):
        lines += [
            "",
            f"## Calibration of span scores ({cal['spans']} CV-predicted spans; expected calibration "
            f"error {cal['ece']:.3f})",
            "",
            "Score bin against the fraction of the span's characters inside a gold span of its label "
            "(the notebook plots it from report.json).",
            "",
            "| score | spans | mean score | inside gold |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {b['from']:.1f}–{b['to']:.1f} | {b['n']} | {b['mean_score']:.2f} | {b['hit_rate']:.2f} |"
            for b in cal["bins"]
        ]
    h = s["headline"]
    lines += [
        "",
        f"## Headlines (clickbait), {h['n_test']} held-out HanCD headlines ({h['n_train']} for "
        "training; the frozen test split's articles left out)",
        "",
        "| system | accuracy | F1 |",
        "|---|---|---|",
        f"| encoder LR, headline + {h['lead_chars']}-char lead (C={h['c']}, chosen by 5-fold CV) | "
        f"**{h['encoder_lr']['accuracy']:.3f}** | {h['encoder_lr']['f1']:.3f} |",
        f"| TF-IDF, headline + lead | {h['tfidf_headline_lead']['accuracy']:.3f} | "
        f"{h['tfidf_headline_lead']['f1']:.3f} |",
        f"| mean of the two above (not shipped) | {h['mean_encoder_tfidf']['accuracy']:.3f} | "
        f"{h['mean_encoder_tfidf']['f1']:.3f} |",
        f"| TF-IDF, headline only | {h['tfidf_headline']['accuracy']:.3f} | "
        f"{h['tfidf_headline']['f1']:.3f} |",
    ]
    if "test" in s:
        t = s["test"]
        lines += [
            "",
            f"## Frozen test split: {t['articles']} articles, {t['spans']} spans (scored once)",
            "",
            *scores_table(t["scores"], ("release", "spancat", "rules", "tfidf"), labels),
        ]
        lines += [
            "",
            "False alarms on its no-span articles (per 1,000 characters): "
            + ", ".join(f"{k} {v:.2f}" for k, v in t["false_alarms_per_1000"].items())
            + ".",
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# export: `huashu train --config spancat` → a model directory `huashu score` and the server load


def save_encoder(base: str, out_dir: Path, keep_layers: int) -> dict[str, Any]:
    """The base encoder cut to its first ``keep_layers`` layers, in bfloat16, with its tokenizer."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = resolve_base(base)
    model = AutoModel.from_pretrained(str(path), add_pooling_layer=False, dtype=torch.float32)
    n = model.config.num_hidden_layers
    if not 1 <= keep_layers <= n:
        raise UserError(f"keep_layers {keep_layers}: the base has {n} layers")
    model.encoder.layer = model.encoder.layer[:keep_layers]
    model.config.num_hidden_layers = keep_layers
    model.to(torch.bfloat16).save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(path)).save_pretrained(out_dir)
    return {"base": base, "base_path": str(path), "layers_kept": keep_layers, "of": n}


def export(
    cfg: SpanCatConfig,
    out_dir: Path,
    eval_summary: Path | None = None,
    progress: bool = True,
    command: str = "",
) -> dict[str, Any]:
    """Train the classifier on every gold article outside the frozen test split (thresholds on a
    validation cut, then refit on all), the headline LR on the training headlines, and write the
    model directory with its card. Per-label sources come from ``eval_summary`` (a CV report)."""
    import torch
    from safetensors.torch import save_file

    t0 = time.monotonic()
    labels = span_labels()
    sources: dict[str, str] = dict.fromkeys(labels, "model")
    ev: dict[str, Any] | None = None
    if eval_summary is not None:  # checked before any training
        try:
            ev = json.loads(Path(eval_summary).read_text(encoding="utf-8"))
            sources.update(ev["source_choice"]["label_sources"])
            float(ev["headline"]["c"])
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise UserError(
                f"--eval {eval_summary}: not a `huashu eval --config spancat` summary ({e})"
            ) from None
        mine = {
            k: v for k, v in asdict(cfg).items() if k in ("layers", "suggesters", "base", "rule_features")
        }
        theirs = {k: ev.get("config", {}).get(k) for k in mine}
        if mine != theirs:
            log.warning(
                "--eval %s was made with another configuration (%s vs %s): its per-label sources "
                "and figures may not describe this model",
                eval_summary,
                theirs,
                mine,
            )
    dev, _ = dev_examples(cfg)
    cache = FeatureCache(cfg.base, max_length=cfg.max_length, stride=cfg.stride)
    tables = build_tables(dev, cfg, cache, progress)
    yields_to = RulesDetector().yields_to
    head, th = fit(tables, cfg, yields_to)
    hd = headline_data(cfg, cache, test_split_ids(), progress, cfg.max_docs * 8 if cfg.max_docs else 0)
    c = float(ev["headline"]["c"]) if ev else cfg.headline_c
    # the held-out headlines stay held out (every release is compared on them)
    lr = fit_headline(hd.train_x, hd.train_y, c, cfg.seed)
    scaler, clf = lr.steps[0][1], lr.steps[1][1]
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("heads.safetensors", "model.onnx", "model.int8.onnx"):
        (out_dir / stale).unlink(missing_ok=True)
    keep = cfg.keep_layers or max(cfg.layers)
    enc_info = save_encoder(cfg.base, out_dir, keep)
    state = {k: v.detach().float().contiguous() for k, v in head.state_dict().items()}
    save_file(state, str(out_dir / HEAD_FILE))
    from huashu.train.dataset import headline_label

    version = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    calib = (
        calibration_map(ev["calibration"]["bins"])
        if ev and (ev.get("calibration") or {}).get("bins")
        else None
    )
    meta = {
        "format": FORMAT,
        "name": cfg.name,
        "version": version,
        "arch": "spancat",
        "labels": labels,
        "suggesters": cfg.suggesters,
        "layers": cfg.layers,
        "rule_features": cfg.rule_features,
        "hidden": cfg.hidden,
        "max_length": cfg.max_length,
        "stride": cfg.stride,
        "precision": "bf16",
        "thresholds": th,
        "label_sources": {**sources, **({headline_label(): "model"} if headline_label() else {})},
        "headline": {
            "label": headline_label(),
            "coef": clf.coef_[0].tolist(),
            "intercept": float(clf.intercept_[0]),
            "mean": scaler.mean_.tolist(),
            "scale": scaler.scale_.tolist(),
            "threshold": 0.5,
            "lead_chars": cfg.headline_lead,
            "C": c,
        },
        "encoder": enc_info,
        "calibration": calib,
        "training": {
            "gold_articles": len(tables),
            "gold_spans": sum(len(t.gold) for t in tables),
            "headlines": len(hd.train_y),
            "command": command,
            "config": asdict(cfg),
            "seconds": round(time.monotonic() - t0, 1),
            "machine": describe(machine()),
            "eval_summary": str(eval_summary or ""),
        },
    }
    (out_dir / MODEL_JSON).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    speed = measure_speed(out_dir) if cfg.measure_speed else None
    if speed:
        meta["speed"] = speed
        (out_dir / MODEL_JSON).write_text(
            json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    (out_dir / "MODEL_CARD.md").write_text(model_card(meta, ev, speed), encoding="utf-8")
    del torch
    log.info(
        "spancat model written to %s (%d gold articles, %.0f s)", out_dir, len(tables), time.monotonic() - t0
    )
    return meta


def run_command(argv: Sequence[str] | None = None) -> str:
    return "huashu " + shlex.join(list(argv if argv is not None else sys.argv[1:]))


def model_card(meta: dict[str, Any], ev: dict[str, Any] | None, speed: dict[str, Any] | None = None) -> str:
    """MODEL_CARD.md for an exported span classifier: what it is, how it was trained, its figures."""
    labels = list(meta["labels"])
    tr = meta["training"]
    lines = [
        f"# huashu span classifier `{meta['name']}` ({meta['version']})",
        "",
        "Finds rhetorical and propaganda devices in Chinese news text (labels/taxonomy.yaml): "
        "suggesters propose candidate spans (huashu/suggest.py), a small MLP over frozen encoder "
        "features labels them (huashu/spancat.py), per-label thresholds, same-label NMS, the "
        "taxonomy's precedence. The headline's clickbait probability comes from logistic regression "
        "over encoder features of the headline and the first "
        f"{meta['headline']['lead_chars']} body characters.",
        "",
        "## Model",
        "",
        f"- encoder: {meta['encoder']['base']} (multilingual-e5-small, Chinese vocabulary), its first "
        f"{meta['encoder']['layers_kept']} of {meta['encoder']['of']} layers, bfloat16; features from layers "
        f"{', '.join(map(str, meta['layers']))}, the tokenizer's own pieces, windows of {meta['max_length']} "
        f"tokens (stride {meta['stride']})",
        f"- suggesters: {', '.join(meta['suggesters'])}; rule features: {meta['rule_features']}",
        "- span scores: "
        + (
            "mapped through the cross-validated reliability curve (`calibration` in huashu_model.json): a "
            "score is the expected share of the span inside a gold span of its label"
            if meta.get("calibration")
            else "the classifier's raw probabilities"
        ),
        f"- classifier: MLP, hidden {meta['hidden']}; thresholds: "
        + ", ".join(f"{lb} {meta['thresholds'][lb]}" for lb in labels),
        "- span sources (the detector's `release` mode): "
        + ", ".join(f"{lb} {src}" for lb, src in meta["label_sources"].items()),
        "",
        "## Training",
        "",
        f"- data: {tr['gold_articles']} gold articles ({tr['gold_spans']} spans) outside the frozen test "
        f"split (labels/splits.yaml), {tr['headlines']} HanCD training headlines (the held-out fifth and the "
        "test split's articles left out)",
        f"- command: `{tr['command']}`; {tr['seconds']:.0f} s on {tr['machine']}",
        f"- per-label sources and the headline's C from: `{tr['eval_summary'] or 'none'}`",
    ]
    if ev:
        sc = ev["cv"]["scores"]
        lines += [
            "",
            f"## Cross-validated figures ({ev['cv']['folds']} folds by article, "
            f"{ev['data']['dev_articles']} articles; `{ev['command']}`)",
            "",
            *scores_table(sc, ("release", "spancat", "rules", "tfidf"), labels),
        ]
        h = ev["headline"]
        lines += [
            "",
            f"Headline accuracy on {h['n_test']} held-out HanCD headlines: {h['encoder_lr']['accuracy']:.3f} "
            f"(TF-IDF on the same inputs {h['tfidf_headline_lead']['accuracy']:.3f}).",
        ]
        if "test" in ev:
            t = ev["test"]
            lines += [
                "",
                f"## Frozen test split ({t['articles']} articles, {t['spans']} spans; scored once)",
                "",
                *scores_table(t["scores"], ("release", "spancat", "rules", "tfidf"), labels),
            ]
            lines += [
                "",
                "False alarms on the test split's no-span articles (per 1,000 characters): "
                + ", ".join(f"{k} {v:.2f}" for k, v in t["false_alarms_per_1000"].items())
                + ".",
            ]
    if speed:
        lines += ["", "## Speed", "", speed["text"]]
    lines += [
        "",
        "## Limits",
        "",
        "- Trained on a few hundred articles from two outlets (Sina, Tencent) annotated by LLM agents "
        "following labels/guidelines.md (labels/DATASHEET.md); expect lower figures on other genres.",
        "- Devices inside quoted speech are not the outlet's (D3/D14): the model learns to leave them.",
    ]
    return "\n".join(lines) + "\n"


def measure_speed(model_dir: Path, repeats: int = 3) -> dict[str, Any] | None:
    """In-process throughput of the exported detector on the seed articles (chars/s, best of runs)."""
    from huashu.detector import load_detector
    from huashu.ingest import ingest_file
    from huashu.paths import seeds_dir

    docs = [d for p in sorted(seeds_dir().glob("*.txt")) for d in ingest_file(p)]
    if not docs:
        log.warning("no seed articles in %s: speed not measured", seeds_dir())
        return None
    det = load_detector(str(model_dir))
    chars = sum(len(d.text) for d in docs)
    det.detect_batch(docs[:1])
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        det.detect_batch(docs)
        best = min(best, time.perf_counter() - t)
    rate = chars / best
    return {
        "chars": chars,
        "seconds": round(best, 3),
        "chars_per_s": round(rate),
        "text": f"In process, the five seed articles ({chars:,} characters) in {best:.2f} s: "
        f"{rate:,.0f} characters/s on {describe(machine())} (best of {repeats}).",
    }
