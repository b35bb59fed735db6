"""The report's plots, drawn from comparison.json alone with matplotlib (Agg: no display needed).

Each function returns PNG bytes, or None when the run has nothing to draw (an unscored run).
"""

from __future__ import annotations

import io

from harness.results.render import rows
from harness.results.schema import GRID

GRID_COLORS = {"correct_answer": "#4c9a5f", "hallucinated_answer": "#c8473d", "needless_refusal": "#e0a43a",
               "correct_refusal": "#7fa7cf", "answered_unanswerable": "#8a3b8f"}


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    return plt, fig, ax


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    # No timestamps or software tags in the file: the same run draws the same bytes.
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _scored(comparison: dict) -> list[tuple[str, dict]]:
    return [(label, m) for _, _, label, m in rows(comparison) if "hallucination_rate" in m]


def hallucination_plot(comparison: dict) -> bytes | None:
    """Hallucination rate per model (and decoding cell) with its 95% interval."""
    scored = _scored(comparison)
    if not scored:
        return None
    plt, fig, ax = _figure(7, 0.5 * len(scored) + 1.3)
    labels = [label for label, _ in scored][::-1]
    rates = [m["hallucination_rate"] for _, m in scored][::-1]
    values = [100 * (r["value"] or 0) for r in rates]
    # Clamped at 0: a Wilson bound of 0/n can sit a rounding error above 0 (5.6e-17 at 0/3), and
    # matplotlib refuses a negative error bar.
    lo = [max(0.0, v - 100 * (r["ci"][0] if r.get("ci") else 0)) for v, r in zip(values, rates)]
    hi = [max(0.0, 100 * (r["ci"][1] if r.get("ci") else 0) - v) for v, r in zip(values, rates)]
    ax.barh(labels, values, color="#c8473d", alpha=0.75, xerr=[lo, hi], capsize=4, ecolor="#333333")
    for y, (v, up) in enumerate(zip(values, hi)):
        end = v + up  # right of the interval, or inside the bar when the interval reaches the edge
        ax.text(end + 1.5 if end < 88 else 1.5, y, f"{v:.1f}%", va="center", fontsize=8,
                color="#222222" if end < 88 else "white", fontweight="bold")
    ax.set_xlim(0, 100)
    ax.set_xlabel("hallucination rate, % of answers (95% interval)")
    ax.grid(axis="x", alpha=0.3)
    return _png(plt, fig)


def refusal_grid_plot(comparison: dict) -> bytes | None:
    """The refusal grid as one stacked bar per model (and cell): shares of answers."""
    scored = _scored(comparison)
    if not scored:
        return None
    plt, fig, ax = _figure(7, 0.5 * len(scored) + 1.6)
    labels = [label for label, _ in scored][::-1]
    left = [0.0] * len(labels)
    for cell in GRID:
        counts = [m["refusal_grid"][cell] for _, m in scored][::-1]
        totals = [max(sum(m["refusal_grid"].values()), 1) for _, m in scored][::-1]
        shares = [100 * c / t for c, t in zip(counts, totals)]
        ax.barh(labels, shares, left=left, color=GRID_COLORS[cell], label=cell.replace("_", " "))
        left = [a + b for a, b in zip(left, shares)]
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of answers")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(scored) < 3 else -0.2), ncol=3, fontsize=7,
              frameon=False)
    return _png(plt, fig)


def category_plot(comparison: dict) -> bytes | None:
    """Hallucination rate by question category, one bar per model (and cell) in each group."""
    scored = [(label, m) for label, m in _scored(comparison) if m.get("by_category")]
    if not scored:
        return None
    categories = sorted({c for _, m in scored for c in m["by_category"]})
    plt, fig, ax = _figure(max(6, 0.9 * len(categories) + 3.5), 3.6)
    width = 0.8 / len(scored)
    for i, (label, m) in enumerate(scored):
        values = [100 * ((m["by_category"].get(c) or {}).get("hallucination_rate", {}).get("value") or 0)
                  for c in categories]
        ax.bar([x + i * width for x in range(len(categories))], values, width, label=label)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(categories))])
    ax.set_xticklabels([c.replace("_", " ") for c in categories], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("hallucination rate, %")
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(axis="y", alpha=0.3)
    return _png(plt, fig)


PLOTS = {"hallucination": hallucination_plot, "refusal_grid": refusal_grid_plot, "categories": category_plot}


def draw_all(comparison: dict) -> dict[str, bytes]:
    """Every plot the run can have, by name."""
    out = {}
    for name, draw in PLOTS.items():
        png = draw(comparison)
        if png is not None:
            out[name] = png
    return out
