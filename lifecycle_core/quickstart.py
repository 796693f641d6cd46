"""The one-click stakeholder demo: generate the demo catalog, ingest it, queue a fast training job.

    python -c "from lifecycle_core.store import Workspace; from lifecycle_core.quickstart import start_demo; \\
print(start_demo(Workspace('ws')))"

The preset trains the default stacked model (stacked.py: gradient boosting over the signals, seasons,
analog products and the text read by the packaged sentence encoder) and scores the catalog: well under
a minute on 2 CPU cores. Its Explain page shows which words move each prediction.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable

from .demo import write_demo
from .ingest import ingest
from .readers import SourceFile
from .train_config import TrainConfig

DEMO_PRODUCTS, DEMO_WEEKS = 300, 104
QUICK = TrainConfig()  # the stacked model: the full default, since it trains in seconds


def free_name(taken: set[str], base: str) -> str:
    return next(n for n in [base] + [f"{base}-{i}" for i in range(2, 10_000)] if n not in taken)


def start_demo(ws, *, progress: Callable[[float, str], None] | None = None, config: TrainConfig = QUICK):
    """Ingest a fresh demo dataset and queue its training job; returns (dataset name, Job)."""
    from . import jobs

    name = free_name({d.name for d in ws.list_datasets()}, "demo")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_demo(tmp, DEMO_PRODUCTS, DEMO_WEEKS, seed=0)
        ingest(ws, name, [SourceFile.from_path(p) for p in paths], progress=progress)
    return name, jobs.submit(ws, name, free_name(jobs.taken_model_names(ws), f"{name}-quick"), config)
