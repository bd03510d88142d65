"""``streamrec wait-idle``: return once the worker has drained its topics and no list is stale."""

from __future__ import annotations

import time

import orjson
import redis
from confluent_kafka import Consumer, KafkaException, TopicPartition
from redis.backoff import NoBackoff
from redis.retry import Retry

from streams.settings import WorkerSettings
from streams.state import keys
from streams.state.clients import sync_client
from streams.state.codecs import text
from streams.topics import end_offsets


def lag(settings: WorkerSettings, attempts: int = 20) -> int:
    """Records not yet committed by the worker's consumer group, over its input topics.

    Retries transient broker answers (a topic the worker has just created may have no
    leader for a moment) before giving up."""
    for attempt in range(attempts):
        try:
            return _lag(settings)
        except KafkaException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def _lag(settings: WorkerSettings) -> int:
    consumer = Consumer({**settings.kafka.confluent_config(), "group.id": settings.app_id})
    total = 0
    try:
        for topic in (settings.topics.ratings, settings.topics.items, settings.by_item_topic):
            try:
                ends = end_offsets(settings.kafka, topic)
            except KeyError:
                continue  # the internal topic is created by the worker on its first start
            committed = consumer.committed([TopicPartition(topic, p) for p in ends], timeout=10)
            for tp in committed:
                done = tp.offset if tp.offset >= 0 else 0
                total += max(0, ends[tp.partition] - done)
    finally:
        consumer.close()
    return total


def _stale_lists(
    client: redis.Redis, converged: bool = False, kinds: tuple[str, ...] = ("cf", "embedding")
) -> int | None:
    """Lists waiting for the refresher, the fuser (served lists) or their pace (the
    similar lists of ``kinds``: the paths that run), and with
    ``converged`` a convergence sweep not yet finished (counted as one), or None while Redis
    cannot say (down, or still loading its data after a restart: LOADING). The client
    does not retry on its own, so an unanswered check costs one poll, never a hidden
    back-off past the deadline. Without ``converged``, a sweep that began at the current
    mean changes and stale marks (``streams.worker.sweep``: only once nothing was stale,
    due or in a round) owns the stale queue and the refresher's rounds: they are not
    counted then; the lists due to be fused and the fuser's rounds always are (other
    paths queue those without a mark)."""
    try:
        changed, seen, depth = client.hmget(keys.served_popular(), ["at", "seen", "depth"])
        if seen is not None and depth is not None:  # a popular change the fuser has not seen
            now: list[bytes] = client.zrevrange(keys.popular(), 0, int(depth) - 1)  # type: ignore[assignment]
            if [text(i) for i in now] != orjson.loads(seen):
                return 1
        # one MULTI: a round marks itself busy before it pops and clears the mark after
        # its writes, so work is always in a queue or busy at the instant of the reads
        with client.pipeline(transaction=True) as pipe:
            pipe.zcard(keys.stale_users())
            pipe.zrangebyscore(keys.lists_busy(), f"({time.time()!r}", "+inf")
            pipe.zcard(keys.served_due())
            for kind in kinds:  # similar lists their pace put off, or taken and unwritten
                pipe.zcard(keys.similar_due(kind))
                pipe.zcard(keys.similar_taken(kind))
            if changed is not None:  # lists fused before it are due again
                pipe.zcount(keys.served_times(), "-inf", f"({float(changed)!r}")
            # in the same MULTI: the sweep records where it began, then queues a page
            fields = ["mean_changes", "swept", "sweep_began", "stale_marks", "sweep_marks"]
            pipe.hmget(keys.stream_stats(), fields)
            stale, rounds, *counts, stats = pipe.execute()
        changes, swept, began, marks, began_marks = (int(v) if v else None for v in stats)
        pending = sum(int(n) for n in counts)
        if converged:  # the sweep queues its last page, then records swept
            return pending + int(stale) + len(rounds) + int((swept or 0) < (changes or 0))
        sweeping = began is not None and began >= (changes or 0)
        if sweeping and began_marks is not None and began_marks >= (marks or 0):
            refresh = keys.REFRESH_ROUND.encode() + b":"
            return pending + sum(not r.startswith(refresh) for r in rounds)
        return pending + int(stale) + len(rounds)
    except redis.RedisError:
        return None


def wait_idle(
    settings: WorkerSettings, timeout: float = 600, poll: float = 0.5, converged: bool = True
) -> bool:
    """True once the worker has committed every input record and no list is stale, seen
    twice in a row; False at the deadline. A Redis that does not answer is never idle.
    With ``converged`` (the default), also once the convergence sweep has queued every
    user since the last batch that moved a mean (``streams.worker.sweep``): nothing more
    will be written, and every stored similarity and prediction follows from the
    current sums and means. Not with the sweep switched off
    (``STREAMREC_REFRESH__SWEEP=false``): nothing would ever record it."""
    converged = converged and settings.refresh.sweep
    runs = {"cf": settings.item_cf.enabled, "embedding": settings.embedding.enabled}
    kinds = tuple(kind for kind, on in runs.items() if on)
    client = sync_client(settings.redis, retry=Retry(NoBackoff(), 0), socket_timeout=10)
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        try:
            backlog = lag(settings)
        except KafkaException:  # e.g. a just-created internal topic without a leader yet
            backlog = -1
        if backlog == 0 and _stale_lists(client, converged, kinds) == 0:
            quiet += 1
            if quiet >= 2:  # twice in a row: nothing was in flight between the checks
                return True
        else:
            quiet = 0
        time.sleep(poll)
    return False
