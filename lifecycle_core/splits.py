"""Train / validation / test splits by time (with a gap) and by product (the cold-start case).

    python -c "from lifecycle_core.splits import time_split; import numpy as np; \
print(time_split(np.arange(40), 40, horizon=4))"

Labels look up to h periods ahead, so a training label at t has seen sales up to t+h. The time split
leaves h unused periods between train and validation and between validation and test, so no label
used in training has seen a single period that is evaluated.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

TRAIN, VAL, TEST, GAP = "train", "val", "test", "gap"


@dataclass(frozen=True)
class SplitConfig:
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if not (
            0 < self.val_fraction < 1 and 0 < self.test_fraction < 1 and self.val_fraction + self.test_fraction < 0.9
        ):
            raise ValueError(
                f"val_fraction and test_fraction must be in (0, 1) and leave >= 10 % for training, got "
                f"{self.val_fraction}, {self.test_fraction}"
            )

    def to_dict(self) -> dict:
        return asdict(self)


def time_split(t: np.ndarray, n_periods: int, *, horizon: int, config: SplitConfig | None = None) -> np.ndarray:
    """Assign each row (by its period index ``t``) to train, val, test or gap. Shape of ``t``.

    The labelable periods are 0..n_periods-horizon-1 (the last h are never labeled). Test takes the
    last ``test_fraction`` of them, validation the ``val_fraction`` before, each preceded by h gap periods.
    """
    config = config or SplitConfig()
    usable = n_periods - horizon
    n_test = max(1, round(usable * config.test_fraction))
    n_val = max(1, round(usable * config.val_fraction))
    test_start = usable - n_test
    val_end = test_start - horizon  # exclusive
    val_start = val_end - n_val
    train_end = val_start - horizon  # exclusive
    if train_end < 1:
        raise ValueError(
            f"{n_periods} periods are too few for a time split with horizon {horizon}: "
            f"need train, validation and test periods with {horizon}-period gaps between them"
        )
    out = np.full(len(t), GAP, dtype=object)
    out[t < train_end] = TRAIN
    out[(t >= val_start) & (t < val_end)] = VAL
    out[(t >= test_start) & (t < usable)] = TEST
    return out


def product_split(product_ids: np.ndarray, *, config: SplitConfig | None = None) -> np.ndarray:
    """Assign each row to train, val or test by a seeded hash of its product: a product's periods all
    land in one split, so test products are never seen in training (cold start)."""
    config = config or SplitConfig()
    uniq, inverse = np.unique(np.asarray(product_ids, dtype=str), return_inverse=True)
    u = np.array(
        [int.from_bytes(hashlib.sha256(f"{config.seed}:{p}".encode()).digest()[:8], "big") / 2**64 for p in uniq]
    )
    which = np.where(
        u < config.test_fraction, TEST, np.where(u < config.test_fraction + config.val_fraction, VAL, TRAIN)
    )
    return which[inverse]
