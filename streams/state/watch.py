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
    applied: int  # events at or below its fences, over all partitions


def path_progress(
    client: redis.Redis,
    ratings_topic: str,
    by_item_topic: str,
    partitions: int,
    paths: tuple[str, ...] = (USER_BASED, ITEM_CF, HYBRID),
) -> list[PathProgress]:
    """Events each path has applied, summed over the partitions (one pipelined read): its
    fences + 1 on the ratings topic (one record per event, bad ones included), and the
    events its commits counted on the by-item topic (whose records pack many events; the
    valid ones, plus any a restart forwarded twice)."""
    topics = {
        USER_BASED: by_item_topic,
        ITEM_CF: f"{ratings_topic}#item-cf",
        HYBRID: f"{ratings_topic}#hybrid",
    }
    pipe = client.pipeline(transaction=False)
    for path in paths:
        for partition in range(partitions):
            key = keys.partition_progress(topics[path], partition)
            pipe.hget(key, "events" if path == USER_BASED else "fence")
    answers = iter(pipe.execute())
    out = []
    for path in paths:
        applied = 0
        for _partition in range(partitions):
            answer = next(answers)
            if answer is not None:
                applied += int(answer) if path == USER_BASED else int(answer) + 1
        out.append(PathProgress(path, applied))
    return out
