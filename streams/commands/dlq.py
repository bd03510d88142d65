"""``streamrec dlq``: what was refused and why, newest last."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from streams.schemas.dlq import header_map
from streams.settings import WorkerSettings
from streams.topics import end_offsets


def read_dead_letters(settings: WorkerSettings, limit: int) -> list[dict[str, str]]:
    topic = settings.topics.dlq
    ends = end_offsets(settings.kafka, topic)
    consumer = Consumer({**settings.kafka.confluent_config(), "group.id": "streamrec-dlq-show"})
    starts = {p: max(0, end - limit) for p, end in ends.items()}
    consumer.assign([TopicPartition(topic, p, starts[p]) for p in ends if ends[p] > starts[p]])
    wanted = sum(ends[p] - starts[p] for p in ends)
    letters: list[dict[str, str]] = []
    try:
        idle = 0
        while len(letters) < wanted and idle < 10:
            batch = consumer.consume(num_messages=1000, timeout=0.5)
            idle = 0 if batch else idle + 1
            for message in batch:
                if message.error():
                    continue
                headers = header_map(message.headers())
                value = message.value() or b""
                headers["value"] = value[:200].decode("utf-8", "replace")
                letters.append(headers)
    finally:
        consumer.close()
    return letters[-limit:]


def show(settings: WorkerSettings, limit: int) -> int:
    for letter in read_dead_letters(settings, limit):
        print(
            f"{letter.get('streamrec.source', '?'):<24} {letter.get('streamrec.reason', '?'):<20} "
            f"{letter.get('streamrec.detail', '')}  value={letter['value']!r}"
        )
    return 0
