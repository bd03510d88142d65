"""How engine state is packed into Redis values and read back: one codec per idea, shared
by every store and by the reader (the layout itself is in ``streams.state.keys``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from streams.algo.usercf.expansion import RATER_DTYPE, ItemRaters
from streams.algo.usercf.pearson import WIDTH


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decode_pairs(raw: dict[Any, bytes]) -> tuple[list[str], np.ndarray]:
    """A user's pairs hash → (partner ids, (m, 6) sums)."""
    partners, sums = raw_pairs(raw)
    return [text(k) for k in partners], sums


def raw_pairs(raw: dict[Any, bytes]) -> tuple[list[bytes], np.ndarray]:
    """Like :func:`decode_pairs` but ids stay bytes: the hot path decodes only neighbours."""
    if not raw:
        return [], np.zeros((0, WIDTH))
    return list(raw), np.frombuffer(b"".join(raw.values()), dtype="<f8").reshape(-1, WIDTH)


def packed_entries(raw: dict[Any, bytes], dtype: np.dtype) -> tuple[list[str], np.ndarray]:
    """A hash of fixed-size packed values → (ids, structured array), one decode."""
    return [text(k) for k in raw], np.frombuffer(b"".join(raw.values()), dtype=dtype)


def decode_raters(raw: dict[Any, bytes]) -> ItemRaters:
    return ItemRaters(*packed_entries(raw, RATER_DTYPE)) if raw else ItemRaters.empty()


def fmt(value: float) -> str:
    return repr(float(value))


def pack_ids(ids: list[str]) -> tuple[bytes, bytes]:
    """Many ids as two arguments (uint32 lengths, concatenated UTF-8) instead of one
    argument each: the client's per-argument cost dominated big batches."""
    encoded = [i.encode() for i in ids]
    return np.array([len(b) for b in encoded], dtype="<u4").tobytes(), b"".join(encoded)


def encode_ranking(ranked: list[tuple[str, float]]) -> bytes:
    """A ranked list as one string value, JSON ``[[id, score], ...]`` best first: one SET
    instead of a sorted set's ZADD, which cost Redis ~0.8 µs per member (a similar list
    of 100: 80-100 µs, and the most written value of all). Scores are exact (shortest
    round-trip form) and the order is explicit, so ties need no score nudges."""
    return orjson.dumps(ranked, option=orjson.OPT_SERIALIZE_NUMPY)  # numpy scores too


def decode_ranking(raw: bytes | None, n: int | None = None) -> list[tuple[str, float]]:
    """:func:`encode_ranking`'s value (None: no list) → its first ``n`` (id, score)."""
    if not raw:
        return []
    rows = orjson.loads(raw)
    return [(str(j), float(s)) for j, s in (rows if n is None else rows[:n])]
