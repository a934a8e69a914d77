"""The built-in PyTorch tabular classifier: `workbench train --demo` needs no user code.

Works on any frame with a binary target: numeric columns are standardised inside the model,
categorical columns become integer codes looked up in embeddings. Checkpoints every epoch and
resumes from `ctx.restore()`; runs data-parallel when `ctx.world_size > 1`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from workbench.demo.synthetic import TARGET, make_dataset
from workbench.training.spec import trainable

if TYPE_CHECKING:
    import torch


class ClassifierParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(8, ge=1, le=10_000)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(0.01, gt=0)
    hidden: int = Field(32, ge=1, le=4096)
    weight_decay: float = Field(0.0, ge=0)
    validation_share: float = Field(0.2, gt=0, lt=1)
    checkpoint_every: int = Field(1, ge=0, description="epochs between checkpoints; 0 never")
    rows: int = Field(20_000, ge=100, description="rows generated when no data is given")


def tabular_columns(frame: pd.DataFrame, target: str) -> tuple[list[str], list[str]]:
    numeric = [c for c in frame.columns if c != target and pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    categorical = [c for c in frame.columns if c != target and c not in numeric]
    return numeric, categorical


def _build(numeric_stats: np.ndarray, vocab: dict[str, list[str]], hidden: int) -> torch.nn.Module:
    import torch
    from torch import nn

    class TabularClassifier(nn.Module):
        """Input: numeric columns then categorical codes, as floats. Output: P(target = 1)."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor(numeric_stats[0], dtype=torch.float32))
            self.register_buffer("std", torch.tensor(numeric_stats[1], dtype=torch.float32))
            self.n_numeric = len(numeric_stats[0])
            self.vocab = vocab
            self.embeddings = nn.ModuleList(
                nn.Embedding(len(levels) + 1, 4) for levels in vocab.values())  # +1: unseen
            width = self.n_numeric + 4 * len(vocab)
            self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mean, std = self.get_buffer("mean"), self.get_buffer("std")
            numeric = (x[:, : self.n_numeric] - mean) / std
            codes = x[:, self.n_numeric :].long().clamp(min=0)
            parts = [numeric] + [emb(codes[:, i]) for i, emb in enumerate(self.embeddings)]
            return torch.sigmoid(self.mlp(torch.cat(parts, dim=1))).squeeze(1)

    return TabularClassifier()


def encode(frame: pd.DataFrame, numeric: list[str], vocab: dict[str, list[str]]) -> pd.DataFrame:
    """The model's input: numeric columns as floats, categories as codes (len(vocab) = unseen)."""
    out = frame[numeric].astype("float32").copy()
    for column, levels in vocab.items():
        lookup = {level: i for i, level in enumerate(levels)}
        out[column] = frame[column].astype(str).map(lookup).fillna(len(levels)).astype("float32")
    return out


@trainable(params=ClassifierParams, target=TARGET)
def train(ctx: Any) -> torch.nn.Module:
    import torch
    from torch.nn.parallel import DistributedDataParallel

    p = ctx.params
    frame = ctx.data if ctx.data is not None else make_dataset(p.rows, seed=ctx.seed)
    numeric, categorical = tabular_columns(frame, TARGET)
    rng = np.random.default_rng(ctx.seed)
    order = rng.permutation(len(frame))
    cut = int(len(frame) * (1 - p.validation_share))
    train_rows, valid_rows = frame.iloc[order[:cut]], frame.iloc[order[cut:]]
    vocab = {c: sorted(map(str, train_rows[c].dropna().unique())) for c in categorical}
    stats = np.stack([train_rows[numeric].mean().to_numpy(), train_rows[numeric].std().to_numpy()])
    stats[1][stats[1] == 0] = 1.0

    def tensors(rows: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(encode(rows, numeric, vocab).to_numpy(np.float32)).to(ctx.device)
        y = torch.from_numpy(rows[TARGET].to_numpy(np.float32)).to(ctx.device)
        return x, y

    x_train, y_train = tensors(ctx.shard(train_rows))
    x_valid, y_valid = tensors(valid_rows)
    model = _build(stats, vocab, p.hidden).to(ctx.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    start = 0
    state = ctx.restore()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        start = int(state["epoch"]) + 1
    net = DistributedDataParallel(model) if ctx.world_size > 1 else model
    loss_fn = torch.nn.BCELoss()
    ctx.total_steps = p.epochs
    ctx.input_example = encode(valid_rows.head(5), numeric, vocab)
    for epoch in range(start, p.epochs):
        net.train()
        perm = torch.randperm(len(x_train), device=ctx.device)
        total, batches = 0.0, 0
        for i in range(0, len(perm), p.batch_size):
            idx = perm[i : i + p.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(net(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        ctx.log_metrics({"train_loss": total / max(batches, 1),
                         **evaluate(model, x_valid, y_valid)}, step=epoch)
        if p.checkpoint_every and (epoch + 1) % p.checkpoint_every == 0:
            ctx.checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "rng": torch.get_rng_state(), "epoch": epoch})
    return model


def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    import torch

    model.eval()
    with torch.no_grad():
        prob = model(x)
        loss = torch.nn.functional.binary_cross_entropy(prob, y)
    prob_np, y_np = prob.cpu().numpy(), y.cpu().numpy()
    return {"val_loss": float(loss), "val_accuracy": float(((prob_np > 0.5) == y_np).mean()),
            "val_auc": roc_auc(y_np, prob_np)}


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum formula (ties averaged)."""
    positives = y == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(score).rank().to_numpy()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
