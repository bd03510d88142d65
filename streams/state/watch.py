"""How far each path has applied the log, read from its own fences: progress that tells
the truth per path (a consumer group's committed offset only says how far the slowest
agent got, and says nothing about the by-item hop)."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from streams.state import keys

# the paths that keep per-partition fences, and the topic each one counts in
USER_BASED, ITEM_CF, HYBRID = "user-based", "item-to-item", "content+embedding"


@dataclass(frozen=True)
class PathProgress:
    path: str
    applied: int  # records of its topic at or below its fences, over all partitions


def path_progress(
    client: redis.Redis,
    ratings_topic: str,
    by_item_topic: str,
    partitions: int,
    paths: tuple[str, ...] = (USER_BASED, ITEM_CF, HYBRID),
) -> list[PathProgress]:
    """Records each path has applied: its fences + 1, summed over the partitions (one
    pipelined read). The user-based path counts in the by-item topic, which holds exactly
    the valid events (plus any a restart forwarded twice)."""
    topics = {
        USER_BASED: by_item_topic,
        ITEM_CF: f"{ratings_topic}#item-cf",
        HYBRID: f"{ratings_topic}#hybrid",
    }
    pipe = client.pipeline(transaction=False)
    for path in paths:
        for partition in range(partitions):
            pipe.hget(keys.partition_progress(topics[path], partition), "fence")
    fences = iter(pipe.execute())
    out = []
    for path in paths:
        applied = 0
        for _partition in range(partitions):
            fence = next(fences)
            applied += int(fence) + 1 if fence is not None else 0
        out.append(PathProgress(path, applied))
    return out
