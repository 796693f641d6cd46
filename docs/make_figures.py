"""Figures for docs/labeling.md, from a real Online Retail II curve.

    python -m lifecycle_core ingest ../shared/data/online_retail_ii/online_retail_ii.csv.gz --workspace ws --name retail
    python docs/make_figures.py --workspace ws --dataset retail [--product 84879]

Needs matplotlib (in requirements-dev.txt). Without --product, picks a product whose level-rule labels
show all four stages and whose Bass fit is good.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lifecycle_core.labeling import LabelRules, bass_pdf, bass_turning_points, fit_bass, label_panel
from lifecycle_core.panel import centered_mean, panel_from_dataset
from lifecycle_core.stages import Stage
from lifecycle_core.store import Workspace


def pick(panel, level, bass) -> int:
    """A product launched inside the window whose curve shows all four stages under both rules."""
    best, best_r2 = -1, -1.0
    for i in np.flatnonzero(panel.units.sum(axis=1) > 2000):
        both = [set(lab.stage[i][lab.stage[i] >= 0].tolist()) for lab in (level, bass)]
        if min(len(b) for b in both) < 4:
            continue
        fit = fit_bass(centered_mean(panel.units[i : i + 1], 5)[0], int(panel.first_sale()[i]))
        if fit and fit[1] > best_r2 and fit[0][3] > 2:
            best, best_r2 = i, fit[1]
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--dataset", default="retail")
    ap.add_argument("--product")
    ap.add_argument("--out", default=str(Path(__file__).parent / "img" / "labeling_retail.png"))
    args = ap.parse_args()
    ws = Workspace(args.workspace)
    panel = panel_from_dataset(ws, args.dataset)
    level = label_panel(panel, LabelRules())
    bass = label_panel(panel, LabelRules(rule="bass"))
    i = panel.products.get_loc(args.product) if args.product else pick(panel, level, bass)
    pid = panel.products[i]
    title = ws.load_table(args.dataset, "products").set_index("product_id").loc[pid, "title"]
    y = panel.units[i]
    S = centered_mean(panel.units[i : i + 1], 5)[0]
    x = panel.periods
    fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax = axes[0]
    ax.bar(x, y, width=6, color="#bbbbbb", label="weekly units")
    ax.plot(x, S, color="black", lw=1.5, label="smoothed (5-week centered mean)")
    fit = fit_bass(S, int(panel.first_sale()[i]))
    if fit:
        (m, p, q, t0), r2 = fit
        ax.plot(
            x,
            bass_pdf(np.arange(len(x)) - t0, m, p, q),
            color="#0072B2",
            lw=2,
            ls="--",
            label=f"Bass fit (p={p:.4f}, q={q:.3f}, R²={r2:.2f})",
        )
        for tp, name in zip(bass_turning_points(p, q), ("1st inflection", "peak", "2nd inflection"), strict=True):
            k = round(t0 + tp)
            if tp >= 0 and 0 <= k < len(x):
                ax.axvline(x[k], color="#0072B2", lw=0.8, ls=":")
                ax.text(
                    x[k], ax.get_ylim()[1] * 0.95, name, rotation=90, va="top", ha="right", fontsize=8, color="#0072B2"
                )
    ax.set_ylabel("units / week")
    ax.set_title(f"Online Retail II, {pid} {title}: labels from its sales curve")
    ax.legend(loc="upper left", fontsize=8)
    ax2 = axes[1]
    for row, lab in enumerate((level, bass)):
        for s in Stage:
            mask = lab.stage[i] == int(s)
            ax2.scatter(
                x[mask],
                np.full(mask.sum(), row),
                color=s.color,
                marker="s",
                s=30,
                label=s.label("en") if row == 0 else None,
            )
        un = lab.active[i] & (lab.stage[i] < 0)
        ax2.scatter(
            x[un],
            np.full(un.sum(), row),
            color="white",
            edgecolor="#999999",
            marker="s",
            s=30,
            label="unlabeled" if row == 0 else None,
        )
    ax2.set_yticks([0, 1], ["level rule", "Bass rule"])
    ax2.set_ylim(-0.6, 1.6)
    ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=5, fontsize=8)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"{pid}: figure written to {args.out}")


if __name__ == "__main__":
    main()
