"""Fine-tuning the stage model on a stored dataset with the Hugging Face Trainer.

    python -m lifecycle_core train --workspace ws --dataset demo --model-name first [--epochs 3 | --max-steps N]

Rows are the labeled product-periods of the time split's training part; the validation part drives
early stopping on macro-F1. Each distinct text is tokenized and encoded once per batch (many
product-periods share a text) with dynamic padding. A checkpoint is written every epoch (or every
``save_steps``) and a run can resume from the last one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from . import text_segments
from .calibration import apply_temperature, fit_temperature
from .evaluate import classification_metrics
from .features import FEATURES, build_examples
from .labeling import LabelRules
from .model import FeatureScaler, LifecycleModel, ModelConfig, encoder_layers, freeze_lower_layers, pad_ids
from .periods import in_time
from .splits import TRAIN, VAL, SplitConfig, split_rows
from .train_config import MODES, SPLITS, TrainConfig  # noqa: F401 - re-exported

Progress = Callable[[float, str], None]


def text_batches(row_text: np.ndarray, text_len: np.ndarray, batch_size: int, seed: int) -> list[np.ndarray]:
    """Rows grouped into batches of about ``batch_size`` so that (1) all rows of one text share a batch,
    and the text is encoded once for all of them, and (2) texts in a batch have similar lengths, so
    dynamic padding adds little. Texts are shuffled, then sorted by length within windows of 50 batches
    (the length-grouping of Hugging Face's LengthGroupedSampler); the batch order is shuffled again."""
    rng = np.random.default_rng(seed)
    texts, counts = np.unique(row_text, return_counts=True)
    order = rng.permutation(len(texts))
    window = max(1, 50 * batch_size // max(1, int(np.ceil(counts.mean()))))
    for i in range(0, len(order), window):
        chunk = order[i : i + window]
        order[i : i + window] = chunk[np.argsort(-text_len[texts[chunk]], kind="stable")]
    rows_of = np.split(np.argsort(row_text, kind="stable"), np.cumsum(np.bincount(row_text))[:-1])
    batches, cur, n = [], [], 0
    for k in order:
        cur.append(rows_of[texts[k]])
        n += counts[k]
        if n >= batch_size:
            batches.append(np.concatenate(cur))
            cur, n = [], 0
    if cur:
        batches.append(np.concatenate(cur))
    return [batches[i] for i in rng.permutation(len(batches))]


def augment_text(text: str, rng: np.random.Generator, strength: float) -> str:
    """Keep a random subset of the reviews, drop words and swap neighbours with probability ~strength/2."""
    head, sep, rest = text.partition("Reviews: ")
    if sep:
        body, sep2, tail = rest.partition(". Searches: ")
        reviews = body.split(" / ")
        kept = [r for r in reviews if rng.random() >= strength] or [reviews[int(rng.integers(len(reviews)))]]
        text = head + sep + " / ".join(kept) + sep2 + tail
    words = text.split(" ")
    words = [w for w in words if rng.random() >= strength / 2] or words
    for i in range(len(words) - 1):
        if rng.random() < strength / 2:
            words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


class _Batches(Dataset):
    """Pre-formed batches (row index arrays); the Trainer runs with per-device batch size 1 over them.
    Only training batches are augmented."""

    def __init__(self, batches: list[np.ndarray], *, augment: bool = False):
        self.batches, self.augment = batches, augment

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict:
        return {"rows": self.batches[i], "augment": self.augment}


class _Collator:
    """A pre-formed batch of rows -> model inputs. Each distinct text is tokenized once for the whole run
    (``token_ids``) and padded to the longest in the batch; with ``embeddings`` (a frozen encoder) the
    cached text vectors are passed instead of tokens."""

    def __init__(self, data: dict, pad_id: int, *, embeddings=None, tokenizer=None, augment: float = 0.0, seed=0):
        self.d, self.pad_id, self.embeddings = data, pad_id, embeddings
        self.tokenizer, self.augment, self.rng = tokenizer, augment, np.random.default_rng(seed)

    def __call__(self, items: list[dict]) -> dict:
        rows = np.concatenate([it["rows"] for it in items])
        tid = self.d["text_id"][rows]
        uniq, index = np.unique(tid, return_inverse=True)
        d = self.d
        batch = {
            "text_index": torch.from_numpy(index.astype(np.int64)),
            "features": torch.from_numpy(d["X"][rows]),
            "labels": torch.from_numpy(d["y"][rows].astype(np.int64)),
            "next_units": torch.from_numpy(d["next_units"][rows].astype(np.float32)),
        }
        if self.embeddings is not None:
            batch["text_embeddings"] = self.embeddings[torch.from_numpy(uniq)]
            return batch
        augmented = self.augment > 0 and items[0]["augment"]
        if augmented:
            texts = [augment_text(d["texts"][k], self.rng, self.augment) for k in uniq]
        if d["segments"]:
            # The batch's distinct segments, shortest first (the encoder trims padding chunk by chunk).
            if augmented:
                segs, members = text_segments.plan(texts)
                ids = self.tokenizer(segs, truncation=True, max_length=d["max_length"])["input_ids"]
            else:
                members = [d["text_segments"][k] for k in uniq]
                used, inverse = np.unique(np.concatenate(members), return_inverse=True)
                members = np.split(inverse, np.cumsum([len(m) for m in members])[:-1])
                ids = [d["token_ids"][s] for s in used]
            lengths = np.array([len(x) for x in ids])
            order = np.argsort(lengths, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            ids = [ids[i] for i in order]
            batch["segment_combine"] = text_segments.combine_matrix([rank[m] for m in members], lengths[order])
        elif augmented:
            ids = self.tokenizer(texts, truncation=True, max_length=d["max_length"])["input_ids"]
        else:
            ids = [d["token_ids"][k] for k in uniq]
        batch["input_ids"], batch["attention_mask"] = pad_ids(ids, self.pad_id)
        return batch


class _Objective(nn.Module):
    """What the Trainer optimises: stage cross-entropy (class-weighted) + weighted demand MSE."""

    def __init__(self, net: nn.Module, class_weights: torch.Tensor | None, demand_weight: float):
        super().__init__()
        self.net = net
        self.register_buffer("class_weights", class_weights if class_weights is not None else torch.ones(4))
        self.demand_weight = demand_weight

    def loss(self, logits, demand, labels, next_units) -> torch.Tensor:
        loss = nn.functional.cross_entropy(logits.float(), labels, weight=self.class_weights)
        ok = ~torch.isnan(next_units)
        if ok.any():
            target = torch.log1p(next_units[ok].clamp(min=0))
            loss = loss + self.demand_weight * ((demand.float()[ok] - target) ** 2).mean()
        return loss

    def forward(
        self,
        text_index,
        features,
        input_ids=None,
        attention_mask=None,
        text_embeddings=None,
        segment_combine=None,
        labels=None,
        next_units=None,
    ):
        logits, demand = self.net(input_ids, attention_mask, text_index, features, text_embeddings, segment_combine)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = self.loss(logits, demand, labels, next_units)
        return out


def _warm_up_signals(objective: _Objective, train: tuple, val: tuple, cfg: TrainConfig) -> tuple[float, int]:
    """Train the signals part (numeric MLP) alone, text hidden, before the joint training; keep the epoch
    with the best validation macro-F1. Returns (that F1, its epoch).

    Linear probing before fine-tuning (Kumar et al., 2022): the numeric MLP needs many more passes than the
    encoder gets in a few epochs, and a trained signals part gives the text a sensible residual to learn.
    On cached rows this costs seconds."""
    import copy

    net = objective.net
    params = list(net.numeric.parameters())  # the text part stays at zero until the joint training
    opt = torch.optim.AdamW(params, lr=cfg.head_learning_rate, weight_decay=cfg.weight_decay)
    # Cosine decay to zero: the last epochs settle instead of jumping around a noisy optimum.
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.head_warmup_epochs))
    dev = params[0].device
    gen = torch.Generator().manual_seed(cfg.seed)
    X, y, nxt = (
        torch.from_numpy(np.asarray(a)).to(dev)
        for a in (train[0], train[1].astype(np.int64), train[2].astype(np.float32))
    )
    Xv, yv = torch.from_numpy(val[0]).to(dev), val[1]
    zeros = torch.zeros((1, net.hidden_size), device=dev)
    best, best_epoch, best_state = -1.0, 0, None
    for epoch in range(1, cfg.head_warmup_epochs + 1):
        net.train()
        for b in torch.randperm(len(y), generator=gen).split(128):
            logits, demand = net.heads(zeros.expand(len(b), -1), X[b])
            loss = objective.loss(logits, demand, y[b], nxt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        net.eval()
        with torch.no_grad():
            proba = torch.softmax(net.heads(zeros.expand(len(yv), -1), Xv)[0].float(), -1).cpu().numpy()
        f1 = classification_metrics(yv, proba)["macro_f1"]
        if f1 > best:
            best, best_epoch, best_state = f1, epoch, copy.deepcopy(net.numeric.state_dict())
    if best_state is not None:
        net.numeric.load_state_dict(best_state)
    return best, best_epoch


@dataclass
class TrainResult:
    model: LifecycleModel
    metrics: dict  # validation metrics of the kept (best) model
    output_dir: Path
    steps: int
    seconds: float
    history: list[dict]
    examples: object = None  # the features.Examples trained on
    text_embeddings: torch.Tensor | None = None  # frozen mode: every text's embedding, for scoring


def _with_lora(encoder: nn.Module, cfg: TrainConfig) -> nn.Module:
    """Low-rank adapters (peft) on the attention projections of the top ``train_layers`` blocks; the
    encoder's own weights stay fixed. Adapters are merged into the weights when the model is saved."""
    from peft import LoraConfig, get_peft_model

    for p in encoder.parameters():
        p.requires_grad = False
    n = len(encoder_layers(encoder))
    top = list(range(n - cfg.train_layers, n)) if 0 < cfg.train_layers < n else None
    kind = getattr(encoder.config, "model_type", "")
    targets = ["q_lin", "v_lin"] if kind == "distilbert" else ["query", "value"]
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=0.05,
        target_modules=targets,
        layers_to_transform=top,
        bias="none",
    )
    return get_peft_model(encoder, lora)


def _local_eval_trainer():
    from transformers import EvalPrediction, Trainer

    class LocalEvalTrainer(Trainer):
        """The Trainer, evaluating the whole validation split in each process without gathering across
        processes. Its own evaluation gathers predictions across ranks and pads only dimension 1; the
        pre-formed batches here differ in rows (dimension 0), so under torchrun it failed with a gloo size
        mismatch. Validation is small, and every rank then reaches the same early-stopping decision."""

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict:
            started = time.perf_counter()
            data = eval_dataset if eval_dataset is not None else self.eval_dataset
            net = self.model  # the unwrapped module: no cross-process synchronisation in the forward pass
            was_training = net.training
            net.eval()
            logits, labels, loss_sum = [], [], 0.0
            with torch.no_grad(), self.accelerator.autocast():
                for i in range(len(data)):
                    batch = self._prepare_inputs(self.data_collator([data[i]]))
                    out = net(**batch)
                    loss_sum += float(out["loss"]) * len(batch["labels"])
                    logits.append(out["logits"].float().cpu())
                    labels.append(batch["labels"].cpu())
            net.train(was_training)
            y = torch.cat(labels).numpy()
            scores = self.compute_metrics(EvalPrediction(predictions=torch.cat(logits).numpy(), label_ids=y))
            metrics = {f"{metric_key_prefix}_loss": loss_sum / max(len(y), 1)}
            metrics.update({f"{metric_key_prefix}_{k}": v for k, v in scores.items()})
            metrics[f"{metric_key_prefix}_runtime"] = round(time.perf_counter() - started, 4)
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

    return LocalEvalTrainer


def _is_main_process() -> bool:
    """Rank 0 under torchrun (RANK set), and always when not distributed."""
    return int(os.environ.get("RANK", "0")) == 0


def _device_flags(precision: str = "auto") -> dict:
    """Trainer precision flags: mixed precision only where a CUDA GPU can run it."""
    if not torch.cuda.is_available():
        if precision in ("bf16", "fp16"):
            raise ValueError(f"precision {precision!r} needs a CUDA GPU; this machine has none (use auto or fp32)")
        return {"use_cpu": True}
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ValueError("precision 'bf16' is not supported by this GPU; use fp16, fp32 or auto")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16", "use_cpu": False}


def last_complete_checkpoint(folder: Path, progress: Callable[[float, str], None] | None = None) -> Path | None:
    """The newest checkpoint a run can resume from, or None.

    The Trainer writes a checkpoint file by file, trainer_state.json last, so a process killed while
    saving leaves a folder without it (or with it cut short). Resuming from that folder fails
    ("Can't find a valid checkpoint"), and a later save into the same step would mix old and new
    files, so incomplete folders are removed; complete ones are never touched.
    """
    if not folder.is_dir():
        return None
    found = []
    for path in folder.glob("checkpoint-*"):
        step = path.name.split("-", 1)[1]
        if path.is_dir() and step.isdigit():
            found.append((int(step), path))
    for _, path in sorted(found, reverse=True):
        if _checkpoint_is_complete(path):
            return path
        if progress is not None:
            progress(0.0, f"removing incomplete checkpoint {path.name} (the run stopped while saving it)")
        shutil.rmtree(path, ignore_errors=True)
    return None


def _checkpoint_is_complete(path: Path) -> bool:
    state = path / "trainer_state.json"
    has_weights = any((path / name).is_file() for name in ("model.safetensors", "adapter_model.safetensors"))
    if not (state.is_file() and has_weights):
        return False
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _same_text_reading(cfg: TrainConfig, out: Path, start: Path | None, progress: Progress) -> TrainConfig:
    """A resumed run reads the text as the run that wrote its checkpoint did (``run.json``; a checkpoint
    without one predates segment-wise reading, so it read one joint sequence): the weights are the same
    shape either way, and a silent switch would fine-tune them on different inputs."""
    import dataclasses

    record = out / "run.json"
    if start is not None:
        before = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {"text_segments": False}
        if bool(before.get("text_segments")) != cfg.text_segments:
            cfg = dataclasses.replace(cfg, text_segments=bool(before.get("text_segments")))
            how = "segment-wise" if cfg.text_segments else "as one sequence"
            progress(0.0, f"resuming a run that reads the text {how}: keeping that")
    if _is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"text_segments": cfg.text_segments}), encoding="utf-8")
    return cfg


def _too_few_hint(ex, split: str) -> str:
    """What keeps labels out, in words, for the error of a dataset with too few training labels."""
    lab = ex.labels
    from collections import Counter

    why = Counter(lab.reason[lab.active & ~lab.labeled].tolist())
    r = lab.rules
    parts = [f"{k} {v:,}" for k, v in why.most_common()]
    hint = f"unlabeled: {', '.join(parts) or 'none'}; "
    hint += (
        f"the last {r.horizon} periods ({in_time(r.horizon, r.period or 'W')}) are never labeled and products need "
        f"{r.min_total_units:g} units ({r.volume_basis or 'given'}); "
    )
    if split == "time":
        hint += "ingest a longer history or more products, or train with the product split (--split product; on the Train page: Validate on, unseen products)"
    else:
        hint += "ingest more products"
    return hint


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
    on_log: Callable[[dict], None] | None = None,
    encoder: nn.Module | None = None,
    tokenizer=None,
) -> TrainResult:
    """Train the stage model on dataset ``name``: the stacked model (train_stacked.py) unless
    ``config.model_kind`` is "neural", which fine-tunes the network below. The best model (by validation macro-F1) is saved in output_dir/model.

    ``encoder``/``tokenizer`` replace the base model (tests build a tiny BERT). ``progress`` gets
    (fraction done, message) after every logging step and evaluation; ``on_log`` gets the Trainer's log
    dict (loss, learning rate, eval_macro_f1...) with step, max_steps, epoch and eta_seconds added.
    """
    from transformers import EarlyStoppingCallback, TrainerCallback, TrainingArguments, set_seed

    cfg = config or TrainConfig()
    if cfg.model_kind == "stacked":
        from .stacked import TextReader
        from .train_stacked import train_stacked

        reader = TextReader(encoder=encoder, tokenizer=tokenizer) if encoder is not None else None
        return train_stacked(
            ws,
            name,
            cfg,
            output_dir=output_dir,
            progress=progress,
            rules=rules,
            split=split,
            on_log=on_log,
            reader=reader,
        )
    progress = progress or (lambda f, m: None)
    out = Path(output_dir)
    flags = _device_flags(cfg.precision)  # before any work: a precision the machine lacks fails at once
    start = last_complete_checkpoint(out / "checkpoints", progress) if resume else None
    cfg = _same_text_reading(cfg, out, start, progress)
    set_seed(cfg.seed)
    progress(0.0, "building examples")
    ex = build_examples(ws, name, rules)
    rules = ex.labels.rules  # resolved for this dataset: windows in its periods, volume for its catalog
    f = ex.frame
    T = ex.labels.panel.shape[1]
    which = split_rows(cfg.split, f["t"].to_numpy(), f["product_id"].to_numpy(), T, horizon=rules.horizon, config=split)
    labeled = f["stage"].to_numpy() >= 0
    tr_rows, va_rows = labeled & (which == TRAIN), labeled & (which == VAL)
    if tr_rows.sum() < 8 or va_rows.sum() < 2:
        raise ValueError(
            f"dataset {name!r} has {int(tr_rows.sum())} training and {int(va_rows.sum())} validation labels on the "
            f"{cfg.split} split ({int(labeled.sum())} labeled product-periods of {len(f)}); need at least 8 and 2: "
            + _too_few_hint(ex, cfg.split)
        )
    X = f[list(FEATURES)].to_numpy(dtype=np.float64)
    scaler = FeatureScaler.fit(X[tr_rows])
    Xs = scaler.transform(X)
    text_id = f["text_id"].to_numpy()
    y = f["stage"].to_numpy()
    nxt = f["next_units"].to_numpy(dtype=np.float64)

    mcfg = ModelConfig(
        base_model=cfg.base_model,
        feature_names=FEATURES,
        max_length=cfg.max_length,
        mlp_hidden=cfg.mlp_hidden,
        text_dropout=cfg.text_dropout,
        demand_loss_weight=cfg.demand_loss_weight,
        text_segments=cfg.text_segments,
    )
    model = LifecycleModel.create(mcfg, scaler, encoder=encoder, tokenizer=tokenizer)
    counts = np.bincount(y[tr_rows], minlength=4).astype(float)
    cw = (
        torch.tensor(np.where(counts > 0, counts.sum() / (4 * np.maximum(counts, 1)), 0.0), dtype=torch.float32)
        if cfg.class_weights
        else None
    )
    objective = _Objective(model.net, cw, cfg.demand_loss_weight)
    signals_file = out / "signals_only.json"
    signals_f1 = None
    if cfg.head_warmup_epochs and not resume:
        progress(0.01, f"training the signals part alone (up to {cfg.head_warmup_epochs} epochs)")
        signals_f1, epoch = _warm_up_signals(
            objective, (Xs[tr_rows], y[tr_rows], nxt[tr_rows]), (Xs[va_rows], y[va_rows]), cfg
        )
        progress(0.02, f"signals alone: validation macro-F1 {signals_f1:.4f} (epoch {epoch})")
        if _is_main_process():
            out.mkdir(parents=True, exist_ok=True)
            signals_file.write_text(json.dumps({"macro_f1": signals_f1, "epoch": epoch}), encoding="utf-8")
    elif resume and signals_file.exists():
        signals_f1 = json.loads(signals_file.read_text(encoding="utf-8"))["macro_f1"]
    if cfg.freeze_signals and cfg.head_warmup_epochs:
        # The text part learns what the signals miss; the signals part stays as the warm-up left it.
        for p in model.net.numeric.parameters():
            p.requires_grad = False

    # Each distinct text is tokenized once for the whole run; the frozen encoder encodes it once too.
    used = np.unique(text_id[tr_rows | va_rows])
    data = {
        "text_id": text_id,
        "X": Xs,
        "y": y,
        "next_units": nxt,
        "texts": ex.texts,
        "max_length": cfg.max_length,
        "segments": cfg.text_segments,
    }
    embeddings = None
    if cfg.mode == "frozen":
        for p in model.net.encoder.parameters():
            p.requires_grad = False
        # Every text, not only the training ones: the encoder never changes, so scoring reuses them.
        progress(0.02, f"encoding {len(ex.texts):,} distinct texts once (frozen encoder)")
        if not flags["use_cpu"]:
            model.net.to("cuda")  # the Trainer would move it anyway; encoding is the costly part here
        embeddings = model.embed(ex.texts.tolist())
    elif cfg.text_segments:
        # Token ids per distinct segment; a text is the list of its segments (a product's catalog text
        # and each review are tokenized once however many periods carry them).
        segs, members = text_segments.plan(ex.texts[used].tolist())
        data["token_ids"] = model.tokenizer(segs, truncation=True, max_length=cfg.max_length)["input_ids"]
        seg_len = np.array([len(x) for x in data["token_ids"]])
        data["text_segments"] = [np.zeros(0, dtype=np.int64)] * len(ex.texts)
        text_len = np.ones(len(ex.texts))
        for k, m in zip(used, members, strict=True):
            data["text_segments"][k] = m
            text_len[k] = seg_len[m].sum()
    else:
        token_ids = [[] for _ in range(len(ex.texts))]
        tokenized = model.tokenizer(ex.texts[used].tolist(), truncation=True, max_length=cfg.max_length)
        for k, ids in zip(used, tokenized["input_ids"], strict=True):
            token_ids[k] = ids
        data["token_ids"] = token_ids
        text_len = np.array([len(x) for x in token_ids])
    if cfg.mode != "frozen":
        freeze_lower_layers(model.net.encoder, cfg.train_layers)
        if cfg.mode == "lora":
            model.net.encoder = _with_lora(model.net.encoder, cfg)
    else:
        text_len = np.ones(len(ex.texts))
    tr_idx = np.flatnonzero(tr_rows)
    train_ds = _Batches(
        [tr_idx[b] for b in text_batches(text_id[tr_idx], text_len, cfg.batch_size, cfg.seed)],
        augment=cfg.augment > 0,
    )
    val_idx = np.flatnonzero(va_rows)
    val_ds = _Batches([val_idx[b] for b in text_batches(text_id[val_idx], text_len, 4 * cfg.batch_size, cfg.seed)])
    steps_per_epoch = math.ceil(len(train_ds) / cfg.gradient_accumulation)
    total = cfg.max_steps if cfg.max_steps > 0 else math.ceil(steps_per_epoch * cfg.epochs)
    enc_params = [p for p in model.net.encoder.parameters() if p.requires_grad]
    head_params = [p for n, p in model.net.named_parameters() if not n.startswith("encoder.") and p.requires_grad]
    groups = [{"params": head_params, "lr": cfg.head_learning_rate}]
    if enc_params:
        groups.insert(0, {"params": enc_params, "lr": cfg.learning_rate})
    optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    by_steps = cfg.save_steps > 0
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=1,  # one pre-formed batch of about cfg.batch_size rows
        per_device_eval_batch_size=1,
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
        ddp_find_unused_parameters=False,
        disable_tqdm=True,
        **flags,
    )
    history: list[dict] = []
    started = time.perf_counter()

    class _Report(TrainerCallback):
        first_step = 0

        def on_train_begin(self, a, state, control, **kw):
            self.first_step = state.global_step  # > 0 when resuming: the ETA counts this run's steps only

        def on_log(self, a, state, control, logs=None, **kw):
            logs = dict(logs or {})
            done = state.global_step / max(state.max_steps, 1)
            ran = state.global_step - self.first_step
            elapsed = time.perf_counter() - started
            eta = elapsed / ran * (state.max_steps - state.global_step) if ran > 0 else float("nan")
            logs.update(step=state.global_step, max_steps=state.max_steps, eta_seconds=eta if eta == eta else None)
            history.append(logs)
            if on_log is not None:
                on_log(logs)
            msg = f"step {state.global_step}/{state.max_steps}"
            if "loss" in logs:
                msg += f", loss {logs['loss']:.4f}"
            if "eval_macro_f1" in logs:
                msg += f", validation macro-F1 {logs['eval_macro_f1']:.4f}"
            if eta == eta:
                msg += f", about {eta:,.0f} s left"
            progress(min(0.99, done), msg)

    evaluations: dict[int, dict] = {}  # step -> full validation metrics, so the kept one is not recomputed
    scored: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # step -> (validation probabilities, labels)

    def compute_metrics(pred) -> dict:
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        proba = torch.softmax(torch.as_tensor(logits, dtype=torch.float32), -1).numpy()
        m = classification_metrics(pred.label_ids, proba)
        evaluations[trainer.state.global_step] = m
        scored[trainer.state.global_step] = (proba, np.asarray(pred.label_ids))
        return {"macro_f1": m["macro_f1"], "accuracy": m["accuracy"], "ece": m["ece"]}

    trainer = _local_eval_trainer()(
        model=objective,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        data_collator=_Collator(
            data,
            model.tokenizer.pad_token_id or 0,
            embeddings=embeddings,
            tokenizer=model.tokenizer,
            augment=cfg.augment,
            seed=cfg.seed,
        ),
        optimizers=(optimizer, None),
        compute_metrics=compute_metrics,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=cfg.patience), _Report()],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # progress goes through `progress`, not print()
    trainer.train(resume_from_checkpoint=str(start) if start else None)
    val_idx = np.flatnonzero(va_rows)
    model.merge_adapters()
    best = trainer.state.best_model_checkpoint
    metrics = evaluations.get(int(best.rsplit("-", 1)[1])) if best else None
    val_scored = scored.get(int(best.rsplit("-", 1)[1])) if best else None
    if metrics is None or val_scored is None:  # resumed past the kept evaluation: score the validation rows again
        progress(0.99, "scoring the validation split")
        if embeddings is not None:
            proba = model.predict_from_embeddings(embeddings, text_id[val_idx], X[val_idx])[0]
        else:
            proba = model.predict_proba(ex.texts[text_id[val_idx]].tolist(), X[val_idx])
        metrics = classification_metrics(y[val_idx], proba)
        val_scored = (proba, y[val_idx])
    text_part = "on"
    if signals_f1 is not None and cfg.freeze_signals and signals_f1 > metrics["macro_f1"]:
        # Early stopping includes the starting point: when no evaluation with the text beat the signals
        # alone on validation, the text part goes back to zero (the model the warm-up left) and says so.
        head = model.net.text_head[-1]
        with torch.no_grad():
            head.weight.zero_()
            head.bias.zero_()
        text_part = f"off: validation macro-F1 {metrics['macro_f1']} with the text, {signals_f1} without"
        proba = model.predict_from_embeddings(
            torch.zeros((1, model.net.hidden_size)), np.zeros(len(val_idx), dtype=np.int64), X[val_idx]
        )[0]
        metrics = classification_metrics(y[val_idx], proba)
        val_scored = (proba, y[val_idx])
        progress(0.995, f"text part {text_part}")
    # Temperature scaling on the validation rows: confidence towards accuracy, the argmax unchanged.
    model.temperature = fit_temperature(*val_scored)
    uncalibrated_ece = metrics["ece"]
    metrics = classification_metrics(val_scored[1], apply_temperature(val_scored[0], model.temperature))
    metrics["ece_uncalibrated"] = uncalibrated_ece
    metrics["temperature"] = round(model.temperature, 4)
    progress(
        0.997, f"calibrated: temperature {model.temperature:.3f}, validation ECE {uncalibrated_ece} -> {metrics['ece']}"
    )
    model.metrics = {"validation": metrics}
    model.training = {
        "train": cfg.to_dict(),
        "text_part": text_part,
        "labels": rules.to_dict(),
        "label_windows": rules.windows(),
        "split_config": (split or SplitConfig()).to_dict(),
        "dataset": name,
        "n_train": int(tr_rows.sum()),
        "n_val": int(va_rows.sum()),
        "steps": trainer.state.global_step,
    }
    model.fingerprint = ws.dataset(name).content_hash
    if _is_main_process():  # under torchrun every rank holds the same weights; one writes them
        model.save(out / "model")
    progress(1.0, f"done: validation macro-F1 {metrics['macro_f1']}")
    return TrainResult(
        model, metrics, out, trainer.state.global_step, time.perf_counter() - started, history, ex, embeddings
    )
