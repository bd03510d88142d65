"""How the per-batch numpy work of the content and embedding paths grows with the catalogue.

* content: rebuild every vector and every item's similar list (what the catalogue agent
  does per batch of catalogue changes), N = ML-100K's 1,682, then synthetic catalogues;
* embedding: rank all items for one user (item space with the network's output, then the
  top-N scan), what the hybrid agent does per acting user.

Run: ``python -m bench.content [--sizes 1682 5000 10000 20000]``; median of 3 runs per
size; JSON, markdown and PNG in ``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from streams.algo.content import ContentConfig, vectors
from streams.algo.embedding import EmbeddingConfig
from streams.algo.embedding import model as embedding

GENRES = [
    "Action",
    "Adventure",
    "Animation",
    "Comedy",
    "Crime",
    "Drama",
    "Fantasy",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]


def catalogue(n: int, rng: np.random.Generator) -> dict[str, dict[str, object]]:
    vocabulary = [f"w{k}" for k in range(5000)]
    return {
        f"m{k}": {
            "title": " ".join(rng.choice(vocabulary, size=rng.integers(1, 5))),
            "attributes": {
                "genres": list(rng.choice(GENRES, size=rng.integers(1, 4), replace=False)),
                "year": int(rng.integers(1930, 2024)),
            },
        }
        for k in range(n)
    }


def median_seconds(work, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1682, 5000, 10000, 20000])
    parser.add_argument(
        "--rank-sizes", type=int, nargs="+", default=[1682, 10_000, 100_000, 1_000_000]
    )
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    config = ContentConfig()
    rows = []
    for n in tqdm(args.sizes, desc="content rebuild"):
        items = catalogue(n, rng)

        def rebuild(items: dict = items, n: int = n) -> None:
            built = vectors.build(items, config)
            vectors.similar_rows(built, list(range(n)), config.similar_size)

        rows.append(
            {"kind": "content rebuild (all lists)", "items": n, "seconds": median_seconds(rebuild)}
        )
    e = EmbeddingConfig()
    network = embedding.Network.initial(e)
    for n in tqdm(args.rank_sizes, desc="embedding rank"):
        ids = [f"m{k}" for k in range(n)]
        item_rows = rng.normal(0, 0.1, (n, e.factors + 1))
        x = np.zeros((n, embedding.FEATURES))
        x[np.arange(n), rng.integers(0, embedding.FEATURES - 1, n)] = 1.0
        user = rng.normal(0, 0.1, e.factors + 1)
        exclude = np.arange(100)

        def rank(
            ids: list[str] = ids,
            item_rows: np.ndarray = item_rows,
            x: np.ndarray = x,
            user: np.ndarray = user,
            exclude: np.ndarray = exclude,
        ) -> None:
            q = item_rows[:, 1:] + network.embed(x)
            embedding.rank(user, ids, item_rows[:, 0], q, exclude, 50)

        rows.append(
            {"kind": "embedding rank (one user)", "items": n, "seconds": median_seconds(rank)}
        )
    folder = Path(args.out) / time.strftime("content-%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "content.json").write_text(json.dumps(rows, indent=2))
    lines = ["| work | items | median seconds |", "|---|---|---|"]
    lines += [f"| {r['kind']} | {r['items']:,} | {r['seconds']:.3f} |" for r in rows]
    (folder / "content.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = [r for r in rows if r["kind"] == kind]
        ax.loglog([r["items"] for r in mine], [r["seconds"] for r in mine], "o-", label=kind)
    ax.set_xlabel("catalogue items")
    ax.set_ylabel("seconds (median of 3)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "content.png", dpi=110)
    print("\n".join(lines))
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
