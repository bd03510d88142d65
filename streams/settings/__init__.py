"""Configuration shared by every streamrec process, read from ``STREAMREC_*`` variables.

Each process has exactly one settings class (worker in ``worker``, reader in
``app.settings``, local stack in ``streams.stack.config``). They share the connection
models of ``connections``, so that a Kafka or Redis endpoint is spelled the same way
everywhere; each path's settings are nested (``paths``). Bad configuration is refused at
start-up with a message naming the variable (``loading``), never discovered later.
"""

from streams.settings.connections import (
    EventLimits,
    KafkaConnection,
    Lifecycle,
    RedisConnection,
    TopicSettings,
)
from streams.settings.loading import ENV_PREFIX, load_settings
from streams.settings.paths import (
    BlendSettings,
    ContentSettings,
    EmbeddingSettings,
    ItemCFSettings,
    RefreshSettings,
    ServedSettings,
    UserCFSettings,
)
from streams.settings.worker import WorkerSettings

__all__ = [
    "ENV_PREFIX",
    "BlendSettings",
    "ContentSettings",
    "EmbeddingSettings",
    "EventLimits",
    "ItemCFSettings",
    "KafkaConnection",
    "Lifecycle",
    "RedisConnection",
    "RefreshSettings",
    "ServedSettings",
    "TopicSettings",
    "UserCFSettings",
    "WorkerSettings",
    "load_settings",
]
