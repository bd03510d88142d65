"""The soak's summary against its goals (issue 15) and its drawing: memory of every
process, Redis memory, lag, freshness p99 and errors over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

WARM_UP_SHARE = 0.25  # the first quarter of the run (at most 5 minutes) is warm-up
WARM_UP_MAX_S = 300.0
LAG_BOUND_S = 30.0  # the lag must stay under this many seconds of input
PROCESSES = ("worker", "reader")  # ours; Kafka and Redis hold data that grows by design


def _after_warm_up(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    end = samples[-1]["t_s"] if samples else 0.0
    warm = min(WARM_UP_MAX_S, WARM_UP_SHARE * end)
    return [s for s in samples if s["t_s"] >= warm] or samples


def growth(samples: list[dict[str, Any]]) -> dict[str, float]:
    """Per process: the RSS of the last samples over the RSS at the end of the warm-up,
    minus 1 (0.10 = grew 10%)."""
    kept = _after_warm_up(samples)
    if len(kept) < 2:
        return {}
    first, last = kept[0]["rss_mb"], kept[-3:]
    out = {}
    for name, start in first.items():
        if start > 0:
            end = sum(s["rss_mb"].get(name, 0.0) for s in last) / len(last)
            out[name] = end / start - 1
    return out


def report(result: dict[str, Any], png: Path) -> str:
    samples = result["samples"]
    kept = _after_warm_up(samples)
    grown = growth(samples)
    last = samples[-1] if samples else {}
    reads = last.get("reads", {})
    errors = sum(v for k, v in reads.items() if k != "2xx")
    lags = [s["lag"] for s in kept]
    p99s = [s["served_freshness_p99_s"] for s in kept if s["served_freshness_p99_s"] is not None]
    lines = [
        f"# Soak, {result['minutes']:g} minutes",
        "",
        f"Capacity measured first: {result['capacity_events_per_s']:.0f} events/s (synthetic, "
        f"1,000,000 users, 100,000 items, fan-out cap {result['fan_out_cap']}); the soak wrote at "
        f"{result['rate_events_per_s']:.0f} events/s (sent: median "
        f"{result['median_sent_per_s']:.0f}/s) and read {result['reads_per_s']:g} served lists/s.",
        "",
        "| goal | measured | met |",
        "|---|---|---|",
    ]
    ours = {k: g for k, g in grown.items() if k in PROCESSES}
    flat = all(abs(g) <= 0.10 for g in ours.values()) if ours else False
    shown = ", ".join(f"{k} {100 * g:+.1f}%" for k, g in sorted(grown.items()))
    lines.append(
        f"| RSS of the worker (with its lists process) and the reader flat within 10% after "
        f"warm-up | {shown} | {'yes' if flat else 'no'} |"
    )
    if len(kept) > 1:
        written = kept[-1]["sent"] - kept[0]["sent"]
        grew = kept[-1]["redis_used_mb"] - kept[0]["redis_used_mb"]
        lines.append(
            f"| (Redis memory per 1,000 events written, after warm-up) | "
            f"{1000 * grew / max(written, 1):.2f} MB | - |"
        )
    rate = result["rate_events_per_s"]
    worst = max(lags, default=0)
    bounded = bool(lags) and worst <= LAG_BOUND_S * rate
    lines.append(
        f"| lag bounded (never {LAG_BOUND_S:g} s of input behind after warm-up) | max {worst} "
        f"records ({worst / rate:.1f} s of input), last {lags[-1] if lags else 0} | "
        f"{'yes' if bounded else 'no'} |"
    )
    redis_errors = last.get("redis_errors", 0)
    clean = errors == 0 and not redis_errors
    lines.append(
        f"| 0 errors | reads {errors} failed or not 2xx of {sum(reads.values())}, Redis errors "
        f"{redis_errors:.0f} | {'yes' if clean else 'no'} |"
    )
    dead = last.get("dead_letters", 0)
    lines.append(f"| 0 dead letters | {dead:.0f} | {'yes' if dead == 0 else 'no'} |")
    if p99s:
        lines.append(
            f"| (served freshness p99 per {result['sample_s']:g} s window) | median "
            f"{sorted(p99s)[len(p99s) // 2]:.2f} s, worst {max(p99s):.2f} s | - |"
        )
    lines += ["", f"![the soak over time]({png.name})", ""]
    draw(samples, png)
    return "\n".join(lines)


def draw(samples: list[dict[str, Any]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t_s"] / 60 for s in samples]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for name in sorted({n for s in samples for n in s["rss_mb"]}):
        axes[0][0].plot(t, [s["rss_mb"].get(name, 0) for s in samples], label=name)
    axes[0][0].set_title("RSS (MB)")
    axes[0][0].legend(fontsize=8)
    axes[0][1].plot(t, [s["redis_used_mb"] for s in samples])
    axes[0][1].set_title("Redis used memory (MB)")
    axes[1][0].plot(t, [s["lag"] for s in samples])
    axes[1][0].set_title("lag (records)")
    p99 = [s["served_freshness_p99_s"] for s in samples]
    axes[1][1].plot(
        t, [v if v is not None else float("nan") for v in p99], label="freshness p99 (s)"
    )
    errors = [
        sum(v for k, v in s["reads"].items() if k != "2xx") + s["redis_errors"] for s in samples
    ]
    axes[1][1].plot(t, errors, label="errors (cumulative)")
    axes[1][1].set_title("served freshness p99, errors")
    axes[1][1].legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("minutes")
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
