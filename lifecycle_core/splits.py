"""Train / validation / test splits by time (with a gap) and by product (the cold-start case).

    python -c "from lifecycle_core.splits import time_split; import numpy as np; \
print(time_split(np.arange(40), 40, horizon=4))"

Labels look up to h periods ahead, so a training label at t has seen sales up to t+h. The time split
leaves h unused periods between train and validation and between validation and test, so no label
used in training has seen a single period that is evaluated. A short history (a year of months, half
a year of weeks) validates on a share of the products inside the training periods instead of periods
of its own: ``time_layout`` says which layout a dataset gets.
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


@dataclass(frozen=True)
class TimeLayout:
    """Where the time split puts its periods. Ranges are [start, end) period indices.

    ``compact``: the history is too short for validation periods of their own; validation is then a
    seeded share of the products inside the training periods (no gap needed: different products),
    and the test periods still follow the training ones after an h-period gap."""

    n_periods: int
    horizon: int
    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]
    compact: bool

    def describe(self) -> str:
        t, v, s = self.train, self.val, self.test
        if self.compact:
            return (
                f"train periods {t[0]}-{t[1] - 1} (validation: {self.val_share_note}), gap {self.horizon}, "
                f"test periods {s[0]}-{s[1] - 1}, last {self.horizon} unlabeled"
            )
        return (
            f"train periods {t[0]}-{t[1] - 1}, gap {self.horizon}, validation {v[0]}-{v[1] - 1}, gap {self.horizon}, "
            f"test {s[0]}-{s[1] - 1}, last {self.horizon} unlabeled"
        )

    val_share_note = "a share of the products of those periods"

    def to_dict(self) -> dict:
        return asdict(self) | {"description": self.describe()}


# The standard layout gives each of train, validation and test periods of their own; it is kept while
# training keeps at least this share of the labelable periods (and MIN_TRAIN_PERIODS).
MIN_TRAIN_SHARE = 0.4
MIN_TRAIN_PERIODS = 3


def time_layout(n_periods: int, *, horizon: int, config: SplitConfig | None = None) -> TimeLayout:
    """The time split's layout for ``n_periods`` periods with label horizon h (also the gap length).

    Raises ValueError naming how many more periods are needed when even the compact layout leaves
    fewer than MIN_TRAIN_PERIODS training periods."""
    config = config or SplitConfig()
    usable = n_periods - horizon
    n_test = max(1, round(usable * config.test_fraction))
    n_val = max(1, round(usable * config.val_fraction))
    test_start = usable - n_test
    val_end = test_start - horizon  # exclusive
    val_start = val_end - n_val
    train_end = val_start - horizon  # exclusive
    if train_end >= max(MIN_TRAIN_PERIODS, MIN_TRAIN_SHARE * usable):
        return TimeLayout(n_periods, horizon, (0, train_end), (val_start, val_end), (test_start, usable), False)
    train_end = test_start - horizon
    if train_end < MIN_TRAIN_PERIODS:
        # n_test grows with the data; the loop finds the first length that leaves enough training periods.
        need = n_periods
        while True:
            need += 1
            u = need - horizon
            if u - max(1, round(u * config.test_fraction)) - horizon >= MIN_TRAIN_PERIODS:
                break
        raise ValueError(
            f"{n_periods} periods are too few for a time split: labels need the last {horizon} periods as "
            f"hindsight, the test periods a {horizon}-period gap after the training ones, and training at least "
            f"{MIN_TRAIN_PERIODS} periods; need {need} periods ({need - n_periods} more). Ingest a longer history, "
            "or split by product (--split product)"
        )
    return TimeLayout(n_periods, horizon, (0, train_end), (0, train_end), (test_start, usable), True)


def time_split(
    t: np.ndarray,
    n_periods: int,
    *,
    horizon: int,
    config: SplitConfig | None = None,
    product_ids: np.ndarray | None = None,
) -> np.ndarray:
    """Assign each row (by its period index ``t``) to train, val, test or gap. Shape of ``t``.

    The labelable periods are 0..n_periods-horizon-1 (the last h are never labeled). Test takes the
    last ``test_fraction`` of them, validation the ``val_fraction`` before, each preceded by h gap periods.
    A history too short for that (see ``time_layout``) validates on a share of the products inside the
    training periods instead, which needs ``product_ids`` (one per row).
    """
    config = config or SplitConfig()
    lay = time_layout(n_periods, horizon=horizon, config=config)
    t = np.asarray(t)
    out = np.full(len(t), GAP, dtype=object)
    out[(t >= lay.train[0]) & (t < lay.train[1])] = TRAIN
    if lay.compact:
        if product_ids is None:
            raise ValueError(
                f"{n_periods} periods leave no room for validation periods of their own; "
                "pass product_ids to validate on a share of the products"
            )
        held = _product_fraction(np.asarray(product_ids), config.val_fraction, salt=f"val:{config.seed}")
        out[(out == TRAIN) & held] = VAL
    else:
        out[(t >= lay.val[0]) & (t < lay.val[1])] = VAL
    out[(t >= lay.test[0]) & (t < lay.test[1])] = TEST
    return out


def _product_hash(product_ids: np.ndarray, salt: str) -> np.ndarray:
    """A seeded uniform number in [0, 1) per row, the same for every row of one product."""
    uniq, inverse = np.unique(np.asarray(product_ids, dtype=str), return_inverse=True)
    u = np.array([int.from_bytes(hashlib.sha256(f"{salt}:{p}".encode()).digest()[:8], "big") / 2**64 for p in uniq])
    return u[inverse] if len(uniq) else np.zeros(0)


def _product_fraction(product_ids: np.ndarray, fraction: float, *, salt: str) -> np.ndarray:
    return _product_hash(product_ids, salt) < fraction


def product_split(product_ids: np.ndarray, *, config: SplitConfig | None = None) -> np.ndarray:
    """Assign each row to train, val or test by a seeded hash of its product: a product's periods all
    land in one split, so test products are never seen in training (cold start)."""
    config = config or SplitConfig()
    u = _product_hash(np.asarray(product_ids), str(config.seed))
    return np.where(
        u < config.test_fraction, TEST, np.where(u < config.test_fraction + config.val_fraction, VAL, TRAIN)
    )


def split_rows(
    kind: str,
    t: np.ndarray,
    product_ids: np.ndarray,
    n_periods: int,
    *,
    horizon: int,
    config: SplitConfig | None = None,
) -> np.ndarray:
    """train / val / test / gap per row for split ``kind`` ("time" or "product"). Shapes of ``t``."""
    if kind == "product":
        return product_split(product_ids, config=config)
    if kind != "time":
        raise ValueError(f"split must be 'time' or 'product', got {kind!r}")
    return time_split(t, n_periods, horizon=horizon, config=config, product_ids=product_ids)


def time_split_described(
    t: np.ndarray, n_periods: int, *, horizon: int, product_ids: np.ndarray, config: SplitConfig | None = None
) -> tuple[np.ndarray, str]:
    """(``time_split`` of the rows, its layout in words); a history too short for any time split gives
    every row GAP and the reason (how many more periods are needed), so reports can go on without it."""
    try:
        layout = time_layout(n_periods, horizon=horizon, config=config)
    except ValueError as exc:
        return np.full(len(t), GAP, dtype=object), str(exc)
    split = time_split(t, n_periods, horizon=horizon, config=config, product_ids=product_ids)
    return split, layout.describe()
