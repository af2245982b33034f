"""Build the two-headed network on a base encoder (the network itself lives in core:
``huashu.inference``, so inference never imports train/)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from huashu.inference import net_class, prepare_tokenizer

log = logging.getLogger(__name__)


def resolve_base_dir(base: str) -> str:
    """A local directory, the offline e5 base (``e5-small-zh``) or a hub id, as
    ``huashu.train.base.resolve_base`` understands them."""
    if Path(base).is_dir():
        return str(base)
    from huashu.train.base import resolve_base

    return resolve_base(base)


def build_net(
    base: str,
    n_span_labels: int,
    keep_layers: int = 0,
    freeze_word_embeddings: bool = False,
    dropout: float = 0.1,
    seed: int = 13,
) -> tuple[Any, Any, str]:
    """(net, prepared tokenizer, resolved base dir). ``keep_layers`` > 0 keeps only the first
    layers of the encoder (tiny test models)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    path = resolve_base_dir(base)
    encoder = AutoModel.from_pretrained(path, dtype=torch.float32, add_pooling_layer=False)
    if keep_layers and keep_layers < encoder.config.num_hidden_layers:
        encoder.encoder.layer = encoder.encoder.layer[:keep_layers]
        encoder.config.num_hidden_layers = keep_layers
    if freeze_word_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(path))
    net = net_class()(encoder, n_span_labels, dropout)
    n_params = sum(p.numel() for p in net.parameters())
    n_train = sum(p.numel() for p in net.parameters() if p.requires_grad)
    log.info(
        "model: %s, %d layers, %.1fM params (%.1fM trainable)",
        path,
        encoder.config.num_hidden_layers,
        n_params / 1e6,
        n_train / 1e6,
    )
    return net, tokenizer, path
