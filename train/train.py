"""`huashu train --config train/configs/<name>.yaml`: fine-tune the two-headed model.

One encoder, trained jointly on (a) per-label inside/begin token targets from gold windows (and,
when switched on, down-weighted weak windows from the rules detector) and (b) headline clickbait
labels. transformers ``Trainer`` with a custom ``compute_loss``: per-column ``pos_weight`` for rare
labels (class weighting), weak rows scaled by ``weak_weight``, headline cross-entropy scaled by
``headline_weight``; early stopping on validation loss when there is a validation split.
After training, per-label thresholds are tuned on the validation articles (partial-overlap F1)
and written to ``huashu_model.json``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from huashu.inference import ModelDetector, decode_spans, save_model
from huashu.machine import machine
from huashu.metrics import span_scores
from huashu.train.dataset import (
    Corpus,
    DatasetArguments,
    Example,
    build_dataset,
    headline_label,
    label_stats,
    load_corpus,
)
from huashu.train.model import build_net

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass
class TrainArguments:
    lr: float = 5e-5
    head_lr: float = 1e-3
    epochs: float = 3.0
    max_steps: int = -1
    batch_size: int = 16
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    seed: int = 13
    weak_weight: float = 0.3
    headline_weight: float = 0.5
    class_weight_alpha: float = 0.5  # pos_weight = (neg/pos) ** alpha, clipped
    class_weight_max: float = 30.0
    early_stopping_patience: int = 2
    eval_steps: int = 0  # 0: evaluate once per epoch
    logging_steps: int = 10
    save_checkpoints: bool = True
    save_total_limit: int = 1
    max_train_minutes: float = 0.0  # stop training after this many minutes (0 = no limit)
    bf16: bool = False  # bf16 autocast on CPU (AVX512-BF16/AMX): ~1.7x faster steps measured here
    prior_bias: bool = True  # start the token head at the (weighted) label prior, not at p = 0.5


@dataclass
class InferenceArguments:
    thresholds: dict[str, float] = field(default_factory=lambda: {"default": 0.5})
    tune_thresholds: bool = True
    threshold_grid: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    headline_threshold: float = 0.5
    merge: str = "mean"
    precision: str = "fp32"
    weights_dtype: str = "fp32"
    batch_size: int = 8


@dataclass
class CVArguments:
    folds: int = 5
    seed: int = 13
    curve: list[int] = field(default_factory=lambda: [10, 25, 50, 100])
    curve_folds: int = 1  # learning curve on the first n folds (each point trains a model)
    model: bool = True  # train the model in every fold (False: baselines only)


@dataclass
class Config:
    name: str = "run"
    base: str = "e5-small-zh"
    keep_layers: int = 0
    freeze_word_embeddings: bool = True
    dropout: float = 0.1
    out: str = ""
    data: DatasetArguments = field(default_factory=DatasetArguments)
    train: TrainArguments = field(default_factory=TrainArguments)
    inference: InferenceArguments = field(default_factory=InferenceArguments)
    cv: CVArguments = field(default_factory=CVArguments)

    @property
    def out_dir(self) -> Path:
        from huashu.paths import data_dir

        return Path(self.out) if self.out else data_dir() / "runs" / self.name


class ConfigError(ValueError):
    pass


def _fill(cls: type, data: dict[str, Any], where: str) -> Any:
    names = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(names))})"
        )
    kwargs = {}
    nested = {
        "data": DatasetArguments,
        "train": TrainArguments,
        "inference": InferenceArguments,
        "cv": CVArguments,
    }
    for key, value in data.items():
        if cls is Config and key in nested:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a mapping")
            kwargs[key] = _fill(nested[key], value, f"{where}.{key}")
        else:
            kwargs[key] = value
    return cls(**kwargs)


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """YAML config → Config. ``path`` may be a file or a name in train/configs/ (``tiny``).
    ``overrides`` are ``section.key=value`` strings (value parsed as YAML)."""
    p = Path(path)
    if not p.exists() and (CONFIG_DIR / f"{path}.yaml").exists():
        p = CONFIG_DIR / f"{path}.yaml"
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config not found: {path} (or {CONFIG_DIR}/{path}.yaml)") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top")
    for item in overrides or []:
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads "1e-4" as a string: take numbers as numbers
            with contextlib.suppress(ValueError):
                parsed = float(parsed)
        node[parts[-1]] = parsed
    cfg = _fill(Config, data, p.stem)
    return cfg


def config_dict(cfg: Config) -> dict[str, Any]:
    return asdict(cfg)


# ---------------------------------------------------------------------------------------------
# batching and loss


class Collator:
    def __init__(self, pad_id: int, width: int) -> None:
        self.pad_id = pad_id
        self.width = width

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        T = max(len(r["input_ids"]) for r in rows)
        B = len(rows)
        ids = torch.full((B, T), self.pad_id, dtype=torch.long)
        mask = torch.zeros((B, T), dtype=torch.long)
        y = torch.full((B, T, self.width), -100, dtype=torch.float32)
        head = torch.full((B,), -100, dtype=torch.long)
        weak = torch.zeros((B,), dtype=torch.bool)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.as_tensor(r["input_ids"])
            mask[i, :n] = 1
            if r["token_labels"]:
                y[i, :n] = torch.as_tensor(r["token_labels"], dtype=torch.float32)
            head[i] = int(r["headline_label"])
            weak[i] = bool(r["weak"])
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "token_labels": y,
            "headline_label": head,
            "weak": weak,
        }


def pos_weights(counts: np.ndarray, n_tokens: int, alpha: float, cap: float) -> np.ndarray:
    """Class weighting for rare labels: (negatives / positives) ** alpha per target column."""
    pos = np.maximum(counts, 1)
    w = ((n_tokens - pos) / pos) ** alpha
    return np.clip(w, 1.0, cap).astype(np.float32)


def prior_bias(counts: np.ndarray, n_tokens: int, pos_weight: np.ndarray) -> np.ndarray:
    """Initial token-head bias: the log-odds the weighted loss is minimised at for a head that sees
    nothing, ``log(pos_weight * pos / neg)`` per column. A zero bias starts every column at
    probability 0.5, and the network spends its first steps unlearning that before it starts to
    tell tokens apart (focal-loss paper's prior initialisation, Lin et al. 2017)."""
    pos = np.maximum(counts, 1).astype(np.float64)
    neg = np.maximum(n_tokens - pos, 1)
    return np.log(pos_weight * pos / neg).astype(np.float32)


def make_trainer_class():
    import torch
    from transformers import Trainer

    class HuashuTrainer(Trainer):
        def __init__(
            self,
            *args: Any,
            pos_weight: np.ndarray,
            weak_weight: float,
            headline_weight: float,
            head_lr: float,
            **kwargs: Any,
        ) -> None:
            super().__init__(*args, **kwargs)
            self.pos_weight = torch.as_tensor(pos_weight)
            self.weak_weight = weak_weight
            self.headline_weight = headline_weight
            self.head_lr = head_lr

        def create_optimizer(self, *args: Any, **kwargs: Any):  # heads learn faster than the encoder
            if self.optimizer is None:
                heads, body_decay, body_no_decay = [], [], []
                for name, p in self.model.named_parameters():
                    if not p.requires_grad:
                        continue
                    if not name.startswith("encoder."):
                        heads.append(p)
                    elif p.ndim < 2:
                        body_no_decay.append(p)
                    else:
                        body_decay.append(p)
                a = self.args
                self.optimizer = torch.optim.AdamW(
                    [
                        {"params": body_decay, "weight_decay": a.weight_decay},
                        {"params": body_no_decay, "weight_decay": 0.0},
                        {"params": heads, "weight_decay": 0.0, "lr": self.head_lr},
                    ],
                    lr=a.learning_rate,
                )
            return self.optimizer

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ):
            y = inputs.pop("token_labels")
            head = inputs.pop("headline_label")
            weak = inputs.pop("weak")
            out = model(**inputs)
            logits = out["token_logits"]
            valid = y >= 0
            loss = logits.new_zeros(())
            if valid.any():
                bce = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, y.clamp(min=0), pos_weight=self.pos_weight.to(logits.device), reduction="none"
                )
                row_w = torch.where(weak, self.weak_weight, 1.0).to(logits.dtype)[:, None, None]
                w = valid.to(logits.dtype) * row_w
                loss = loss + (bce * w).sum() / valid.sum().clamp(min=1)
            hv = head >= 0
            if hv.any():
                ce = torch.nn.functional.cross_entropy(out["headline_logits"][hv], head[hv])
                loss = loss + self.headline_weight * ce
            return (loss, out) if return_outputs else loss

    return HuashuTrainer


def _time_limit_callback(minutes: float):
    from transformers import TrainerCallback

    class TimeLimit(TrainerCallback):
        def __init__(self) -> None:
            self.t0 = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            if minutes and (time.monotonic() - self.t0) / 60 > minutes:
                log.warning("time limit of %.1f min reached at step %d: stopping", minutes, state.global_step)
                control.should_training_stop = True
            return control

    return TimeLimit()


# ---------------------------------------------------------------------------------------------
# thresholds


def tune_thresholds(
    detector: ModelDetector, examples: list[Example], grid: list[float], default: dict[str, float]
) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-label threshold maximising partial-overlap F1 on the given articles; labels with no
    gold span there keep the default."""
    probs = detector.token_probabilities([e.doc for e in examples])
    gold = {e.doc.id: e.spans for e in examples}
    chosen = dict(default)
    table: dict[str, Any] = {}
    for label in detector.labels:
        if not any(s.label == label for spans in gold.values() for s in spans):
            continue
        best = (-1.0, default.get(label, 0.5))
        scores = {}
        for th in grid:
            pred = {
                e.doc.id: decode_spans(p, enc.offsets, detector.labels, {label: th})
                for e, (enc, p) in zip(examples, probs, strict=True)
            }
            f1 = float(span_scores(gold, pred, [label])[label]["partial_f1"])
            scores[th] = f1
            if f1 > best[0] + 1e-9:
                best = (f1, th)
        chosen[label] = best[1]
        table[label] = scores
    return chosen, table


def training_fit(
    detector: ModelDetector, examples: list[Example], thresholds: dict[str, float], n: int = 30
) -> dict[str, Any]:
    """Span partial F1 of the trained model on (up to ``n`` of) its own training articles, at its
    thresholds: low figures here mean the run underfits (more steps or a higher learning rate
    help), high ones next to a low validation F1 mean it overfits."""
    examples = [e for e in examples if e.spans][:n]
    if not examples:
        return {}
    probs = detector.token_probabilities([e.doc for e in examples])
    pred = {e.doc.id: decode_spans(p, enc.offsets, detector.labels, thresholds)
            for e, (enc, p) in zip(examples, probs, strict=True)}
    micro = span_scores({e.doc.id: e.spans for e in examples}, pred, detector.labels)["micro"]
    fit = {"articles": len(examples), **{k: round(float(micro[k]), 4) for k in
                                          ("partial_p", "partial_r", "partial_f1", "exact_f1")}}
    log.info("fit on %d training articles: partial F1 %.3f (P %.3f, R %.3f)", fit["articles"],
             fit["partial_f1"], fit["partial_p"], fit["partial_r"])
    return fit


# ---------------------------------------------------------------------------------------------
# one training run


def train_model(
    cfg: Config,
    corpus: Corpus,
    out_dir: Path,
    train_ids: list[str] | None = None,
    validation_ids: list[str] | None = None,
    test_ids: list[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train one model; save it to ``out_dir/model``; return the run report."""
    import torch
    from transformers import EarlyStoppingCallback, TrainingArguments

    t0 = time.monotonic()
    targs = cfg.train
    torch.manual_seed(targs.seed)
    labels = corpus.labels
    net, tokenizer, base_path = build_net(
        cfg.base, len(labels), cfg.keep_layers, cfg.freeze_word_embeddings, cfg.dropout, targs.seed
    )
    dd, manifest = build_dataset(cfg.data, tokenizer, corpus, train_ids, test_ids, validation_ids)
    from datasets import concatenate_datasets

    parts = [dd["train"], dd["headline_train"]]
    if cfg.data.weak and len(dd["weak"]):
        parts.append(dd["weak"])
    train_ds = concatenate_datasets([p for p in parts if len(p)])
    train_ds = train_ds.add_column("length", [len(x) for x in train_ds["input_ids"]])
    val_parts = [
        p
        for p in (dd["validation"], dd["headline_test"].select(range(min(64, len(dd["headline_test"])))))
        if len(p)
    ]
    has_val = len(dd["validation"]) > 0
    val_ds = concatenate_datasets(val_parts) if has_val else None
    counts = label_stats(dd, labels, "train")
    n_tok = sum(max(0, len(r) - 2) for r in dd["train"]["token_labels"])
    if cfg.data.weak and len(dd["weak"]):
        counts = counts + label_stats(dd, labels, "weak")
        n_tok += sum(max(0, len(r) - 2) for r in dd["weak"]["token_labels"])
    pw = pos_weights(counts, max(n_tok, 1), targs.class_weight_alpha, targs.class_weight_max)
    if targs.prior_bias:
        with torch.no_grad():
            net.token_head.bias.copy_(torch.as_tensor(prior_bias(counts, max(n_tok, 1), pw)))
    log.info(
        "training rows: %d (gold windows %d, weak %d, headlines %d); validation rows %d",
        len(train_ds),
        len(dd["train"]),
        len(dd["weak"]) if cfg.data.weak else 0,
        len(dd["headline_train"]),
        len(val_ds) if val_ds is not None else 0,
    )
    ckpt = out_dir / "checkpoints"
    strategy = "steps" if targs.eval_steps else "epoch"
    use_val = has_val
    args = TrainingArguments(
        output_dir=str(ckpt),
        learning_rate=targs.lr,
        num_train_epochs=targs.epochs,
        max_steps=targs.max_steps,
        per_device_train_batch_size=targs.batch_size,
        per_device_eval_batch_size=targs.batch_size,
        weight_decay=targs.weight_decay,
        warmup_steps=targs.warmup_ratio,
        seed=targs.seed,
        data_seed=targs.seed,
        eval_strategy=strategy if use_val else "no",
        eval_steps=targs.eval_steps or None,
        save_strategy=(strategy if use_val else "no") if targs.save_checkpoints else "no",
        save_steps=targs.eval_steps or None,
        save_total_limit=targs.save_total_limit,
        load_best_model_at_end=bool(use_val and targs.save_checkpoints),
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=targs.logging_steps,
        report_to="none",
        remove_unused_columns=False,
        label_names=["token_labels", "headline_label"],
        train_sampling_strategy="group_by_length",
        length_column_name="length",
        dataloader_num_workers=0,
        disable_tqdm=not progress,
        bf16=targs.bf16,
        use_cpu=True,
    )
    callbacks = [_time_limit_callback(targs.max_train_minutes)]
    if use_val and targs.save_checkpoints and targs.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=targs.early_stopping_patience))
    trainer = make_trainer_class()(
        model=net,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        data_collator=Collator(tokenizer.pad_token_id or 0, 2 * len(labels)),
        callbacks=callbacks,
        pos_weight=pw,
        weak_weight=targs.weak_weight,
        headline_weight=targs.headline_weight,
        head_lr=targs.head_lr,
    )
    result = trainer.train()
    train_seconds = time.monotonic() - t0
    net = trainer.model
    net.eval()
    inf = cfg.inference
    thresholds = {lb: float(inf.thresholds.get(lb, inf.thresholds.get("default", 0.5))) for lb in labels}
    head = headline_label()
    meta: dict[str, Any] = {
        "name": cfg.name,
        "version": time.strftime("%Y%m%d-%H%M%S"),
        "labels": labels,
        "headline_label": head,
        "thresholds": thresholds,
        "headline_threshold": inf.headline_threshold,
        "max_length": cfg.data.max_length,
        "stride": cfg.data.stride,
        "merge": inf.merge,
        "precision": inf.precision,
        "base": cfg.base,
        "base_path": base_path,
        "layers": net.encoder.config.num_hidden_layers,
        "trained_on": {
            "gold_docs": len(manifest["splits"]["train"]),
            "gold_spans": manifest["spans"]["train"],
            "weak_docs": len(corpus.weak) if cfg.data.weak else 0,
            "headlines": manifest["headlines"]["train"],
        },
        "label_sources": {},
    }
    model_dir = out_dir / "model"
    save_model(net, tokenizer, model_dir, meta, inf.weights_dtype)
    tuning: dict[str, Any] = {}
    by_id = corpus.by_id()
    val_examples = [by_id[i] for i in manifest["splits"]["validation"]]
    det = ModelDetector(model_dir, precision="fp32", batch_size=inf.batch_size)
    if inf.tune_thresholds and val_examples:
        tuned, tuning = tune_thresholds(det, val_examples, inf.threshold_grid, thresholds)
        meta["thresholds"] = tuned
        meta_path = model_dir / "huashu_model.json"
        saved = json.loads(meta_path.read_text(encoding="utf-8"))
        saved["thresholds"] = tuned
        meta_path.write_text(json.dumps(saved, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    fit = training_fit(det, [by_id[i] for i in manifest["splits"]["train"]], meta["thresholds"])
    history = [h for h in trainer.state.log_history if "loss" in h or "eval_loss" in h]
    report = {
        "config": config_dict(cfg),
        "model_dir": str(model_dir),
        "machine": machine(),
        "train_seconds": round(train_seconds, 1),
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "history": history,
        "data": manifest,
        "pos_weight": pw.tolist(),
        "threshold_tuning": tuning,
        "thresholds": meta["thresholds"],
        "training_fit": fit,
        "kept": "best checkpoint by validation loss" if args.load_best_model_at_end else "last model",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "train_report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
    )
    log.info("trained %d steps in %.0f s → %s", result.global_step, train_seconds, model_dir)
    return report


def run(cfg: Config, corpus: Corpus | None = None, all_gold: bool = False) -> dict[str, Any]:
    """Train on the seeded split (or on all gold articles with ``all_gold``, for the release model)."""
    corpus = corpus or load_corpus(cfg.data)
    if not corpus.gold and not (cfg.data.weak and corpus.weak):
        raise ValueError("no training data: no gold annotations and no weak split")
    if all_gold:
        cfg = copy.deepcopy(cfg)
        ids = corpus.gold_ids
        n_val = max(1, round(len(ids) * cfg.data.validation_fraction)) if len(ids) >= 5 else 0
        from huashu.train.dataset import split_by_article

        split = split_by_article(ids, cfg.data.seed, cfg.data.validation_fraction if n_val else 0.0, 0.0)
        return train_model(cfg, corpus, cfg.out_dir, split["train"], split["validation"], [])
    return train_model(cfg, corpus, cfg.out_dir)
