"""Experiment: a frozen encoder's features (+ optional rule features) under a small BiLSTM tagger.

Why: fine-tuning the encoder end to end on ~100 gold articles within the CPU budget learns almost
nothing (3-fold CV partial micro-F1 0.03, train/reports/cv3). Extracting features once (12 layers of
e5-small-zh, layers 4/8/12 concatenated, bf16 autocast) and training only a light head lets the head
see many more epochs in the same time. This script measures that with the same folds (``kfold``),
decoding (``decode_spans``) and metric (``span_scores``) as ``huashu eval``.

Run: ``.venv/bin/python -m train.experiments.frozen_head --epochs 10 25`` (features are cached in
``--cache``; 2-core CPU: ~3 min of features, then ~1.5-2 min per fold and 10 epochs).
"""

from __future__ import annotations

import argparse
import logging
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

from huashu.detector import load_detector
from huashu.inference import (
    char_targets,
    decode_spans,
    encode_text,
    merge_windows,
    prepare_tokenizer,
    windows,
    with_specials,
)
from huashu.log import setup_logging
from huashu.metrics import span_scores
from train.base import resolve_base
from train.dataset import kfold, load_gold, span_labels

log = logging.getLogger("huashu.experiments.frozen_head")
LAYERS = (4, 8, 12)


def features(cache: Path, base: str) -> list[dict[str, Any]]:
    """Per document: token features, targets, rule hits, offsets and gold spans (cached)."""
    if cache.exists():
        with open(cache, "rb") as f:
            return pickle.load(f)
    import torch
    from tqdm import tqdm
    from transformers import AutoModel, AutoTokenizer

    path = resolve_base(base)
    tok = prepare_tokenizer(AutoTokenizer.from_pretrained(path))
    encoder = AutoModel.from_pretrained(path, add_pooling_layer=False).eval()
    rules = load_detector("rules")
    labels = span_labels()
    data = []
    for ex in tqdm(load_gold(), desc="features"):
        enc = encode_text(tok, ex.doc.text)
        ws = windows(len(enc), 256, 64)
        outs = []
        for a, b in ws:
            ids = torch.tensor([with_specials(tok, enc.ids[a:b])])
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                hs = encoder(input_ids=ids, output_hidden_states=True).hidden_states
            outs.append(torch.cat([hs[i][0, 1:-1].float() for i in LAYERS], -1).numpy())
        rule_spans = [s for s in rules.detect(ex.doc) if s.label in labels]
        data.append({
            "id": ex.doc.id,
            "feats": merge_windows(len(enc), ws, outs, "mean").astype(np.float16),
            "y": char_targets(enc, ex.spans, labels),
            "r": char_targets(enc, rule_spans, labels)[:, : len(labels)],
            "offsets": enc.offsets,
            "spans": ex.spans,
        })
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache, "wb") as f:
        pickle.dump(data, f)
    return data


def cross_validate(data: list[dict[str, Any]], use_rules: bool, epochs: int, folds: int,
                   threshold: float, seed: int = 13) -> dict[str, Any]:
    import torch

    labels = span_labels()
    n_labels = len(labels)

    class Head(torch.nn.Module):
        def __init__(self, d_in: int, hidden: int = 128) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(d_in + (n_labels if use_rules else 0), 256)
            self.drop = torch.nn.Dropout(0.3)
            self.lstm = torch.nn.LSTM(256, hidden, batch_first=True, bidirectional=True)
            self.out = torch.nn.Linear(2 * hidden, 2 * n_labels)

        def forward(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
            if use_rules:
                x = torch.cat([x, r], -1)
            h, _ = self.lstm(self.drop(torch.relu(self.proj(self.drop(x)))))
            return self.out(self.drop(h))

    def tensors(d: dict[str, Any], a: int = 0, b: int | None = None) -> tuple[torch.Tensor, ...]:
        return tuple(torch.tensor(d[k][a:b], dtype=torch.float32)[None] for k in ("feats", "r", "y"))

    by_id = {d["id"]: d for d in data}
    gold: dict[str, Any] = {}
    pred: dict[str, Any] = {}
    for train_ids, test_ids in kfold(list(by_id), folds, seed):
        torch.manual_seed(seed)
        head = Head(data[0]["feats"].shape[1])
        opt = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=0.01)
        chunks = [tensors(by_id[i], a, a + 512) for i in train_ids for a in range(0, len(by_id[i]["y"]), 512)]
        y_all = np.concatenate([by_id[i]["y"] for i in train_ids])
        pos = y_all.sum(0) + 1
        pos_weight = torch.tensor(np.clip(((len(y_all) - pos) / pos) ** 0.5, 1, 30), dtype=torch.float32)
        rng = np.random.default_rng(seed)
        for _ in range(epochs):
            head.train()
            for j in rng.permutation(len(chunks)):
                x, r, y = chunks[j]
                bce = torch.nn.functional.binary_cross_entropy_with_logits
                loss = bce(head(x, r), y, pos_weight=pos_weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
        head.eval()
        for i in test_ids:
            x, r, _ = tensors(by_id[i])
            with torch.no_grad():
                p = torch.sigmoid(head(x, r))[0].numpy()
            gold[i] = by_id[i]["spans"]
            pred[i] = decode_spans(p, by_id[i]["offsets"], labels, {lb: threshold for lb in labels})
    return span_scores(gold, pred, labels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="e5-small-zh")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache/huashu/experiments/frozen_feats.pkl")
    ap.add_argument("--epochs", type=int, nargs="+", default=[10, 25])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--rules", choices=["off", "on", "both"], default="both")
    a = ap.parse_args()
    setup_logging()
    import torch

    torch.set_num_threads(2)
    data = features(a.cache, a.base)
    for use_rules in {"off": [False], "on": [True], "both": [False, True]}[a.rules]:
        for epochs in a.epochs:
            t0 = time.monotonic()
            s = cross_validate(data, use_rules, epochs, a.folds, a.threshold)["micro"]
            log.info("rule features %s, %d epochs, %d folds: partial micro P/R/F1 %.2f/%.2f/%.3f, "
                     "exact F1 %.3f (%.0f s)", "on" if use_rules else "off", epochs, a.folds,
                     s["partial_p"], s["partial_r"], s["partial_f1"], s["exact_f1"], time.monotonic() - t0)


if __name__ == "__main__":
    main()
