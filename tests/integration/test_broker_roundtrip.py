import collections

import pytest
from confluent_kafka import Consumer

from streams.producer import EventProducer
from streams.schemas.ratings import RatingEvent, parse_rating
from streams.topics import count_records

pytestmark = pytest.mark.integration


def test_1000_events_come_back_once_each_in_order_per_key(worker_settings, topics):
    sent = [
        RatingEvent(f"u{n % 37}", f"i{n}", float(1 + n % 5), 1e9 + n, event_id=f"e{n}")
        for n in range(1000)
    ]
    with EventProducer(worker_settings.kafka) as producer:
        for event in sent:
            producer.send_rating(topics.ratings, event)
    assert producer.report.delivered == 1000 and producer.report.failed == 0

    consumer = Consumer(
        {
            **worker_settings.kafka.confluent_config(),
            "group.id": f"{worker_settings.app_id}-check",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topics.ratings])
    received: list[tuple[int, RatingEvent]] = []
    try:
        for _ in range(120):
            for message in consumer.consume(num_messages=500, timeout=0.5):
                assert message.error() is None
                received.append(
                    (message.partition(), parse_rating(message.value(), worker_settings.limits))
                )
            if len(received) >= 1000:
                break
    finally:
        consumer.close()

    ids = [event.event_id for _, event in received]
    assert len(ids) == 1000 and set(ids) == {e.event_id for e in sent}  # each exactly once
    by_user: dict[str, list[str]] = collections.defaultdict(list)
    partition_of: dict[str, set[int]] = collections.defaultdict(set)
    for partition, event in received:
        by_user[event.user_id].append(event.event_id)
        partition_of[event.user_id].add(partition)
    for user, got in by_user.items():
        assert got == [e.event_id for e in sent if e.user_id == user]  # order per key
        assert len(partition_of[user]) == 1  # a user's events share one partition
    assert count_records(worker_settings.kafka, topics.ratings) == 1000
