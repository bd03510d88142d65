"""The evaluation report: JSON for machines, a markdown table and PNG plots for people."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Published anchors on MovieLens-100K (RMSE), with the protocol they were measured under.
ANCHORS = [
    ("River Baseline", "prequential (River's MF guide)", 0.954),
    ("River BiasedMF", "prequential (River's MF guide)", 0.948),
    ("Surprise KNNWithMeans", "5-fold cross-validation (Surprise docs)", 0.951),
    ("Surprise SVD", "5-fold cross-validation (Surprise docs)", 0.934),
]


def _cell(value: Any, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _rows(summary: dict[str, Any]) -> list[str]:
    return [
        f"| {name} | {_cell(m['rmse'])} | {_cell(m['mae'])} | {_cell(m['hit_rate'])} "
        f"| {_cell(m['ndcg'])} | {_cell(m['coverage'], 3)} | {m['tests']:,} |"
        for name, m in summary.items()
    ]


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Evaluation on {result['dataset']} ({result['events']:,} events)",
        "",
        "## Prequential (test, then learn; timestamp order)",
        "",
        "Hit rate@10 = recall@10 (one held-out item per test): every rating >= 4 of an item",
        "the user had not rated, scored against the user's top-10 before the event is learned.",
        "",
        "| model | RMSE | MAE | hit rate@10 | NDCG@10 | coverage | tests |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += _rows(result["prequential"])
    if result.get("held_out") and result.get("tuning_events"):
        lines += [
            "",
            f"### Without the first {result['tuning_events']:,} events (where the blend's "
            "weights were chosen)",
            "",
            "| model | RMSE | MAE | hit rate@10 | NDCG@10 | coverage | tests |",
            "|---|---|---|---|---|---|---|",
            *_rows(result["held_out"]),
        ]
    quality = result.get("served_lists")
    if quality:
        lines += [
            "",
            f'## The served lists (at most {quality["per_reason"]} items per "because" item; '
            "0 = no cap)",
            "",
            "| part | lists | most items sharing one reason, median | p90 | intra-list diversity |",
            "|---|---|---|---|---|",
        ]
        for part in ("whole", "held_out"):
            q = quality[part]
            lines.append(
                f"| {part.replace('_', ' ')} | {int(q['lists']):,} "
                f"| {_cell(q['most_per_reason_median'], 1)} | {_cell(q['most_per_reason_p90'], 1)} "
                f"| {_cell(q['intra_list_diversity'])} |"
            )
    if result.get("temporal"):
        lines += [
            "",
            "## Temporal split (first 80% by time to learn, the rest to test, no updates)",
            "",
            "| model | RMSE | MAE | predictions |",
            "|---|---|---|---|",
        ]
        for name, m in result["temporal"].items():
            lines.append(
                f"| {name} | {_cell(m['rmse'])} | {_cell(m['mae'])} | {int(m['predictions']):,} |"
            )
    lines += ["", "## Published anchors (other protocols: compare with care)", ""]
    lines += ["| model | protocol | RMSE |", "|---|---|---|"]
    lines += [f"| {name} | {protocol} | {rmse} |" for name, protocol, rmse in ANCHORS]
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = result["series"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    names = list(result["prequential"])
    xs = [row["events"] for row in series]
    for k, name in enumerate(names):  # one colour per model in both panels
        hits = [row[name]["hit_rate"] for row in series]
        if any(h is not None for h in hits):
            top.plot(xs, hits, label=name, color=f"C{k}")
        errors = [row[name]["rmse"] for row in series]
        if any(e is not None for e in errors):
            bottom.plot(xs, errors, label=name, color=f"C{k}")
    top.set_ylabel(f"hit rate@10 (last {result['window']:,} tests)")
    bottom.set_ylabel(f"RMSE (last {result['window']:,} ratings)")
    bottom.set_xlabel("events replayed")
    top.legend(fontsize=8)
    bottom.legend(fontsize=8)
    top.set_title(f"Prequential evaluation on {result['dataset']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(result: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "eval.json", folder / "eval.md", folder / "eval.png"]
    paths[0].write_text(json.dumps(result, indent=2))
    paths[1].write_text(markdown(result))
    plot(result, paths[2])
    return paths
