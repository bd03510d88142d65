"""The engines' configurations from a process's settings (worker, evaluation, tools)."""

from __future__ import annotations

from streams.algo.content import ContentConfig
from streams.algo.embedding import EmbeddingConfig
from streams.algo.itemcf import ItemCFConfig
from streams.engines.usercf import EngineConfig
from streams.settings import WorkerSettings


def engine_config(settings: WorkerSettings) -> EngineConfig:
    return EngineConfig(
        neighbourhood_size=settings.neighbourhood_size,
        predict_k=settings.predict_k,
        topn_size=settings.topn_size,
        min_support=settings.min_support,
        rating_bounds=(settings.limits.rating_min, settings.limits.rating_max),
        popularity_half_life_s=settings.popularity_half_life_s,
        popularity_epoch=settings.popularity_epoch_s,
        fan_out_cap=settings.fan_out_cap,
        history_cap_per_partition=history_cap_per_partition(settings),
    )


def history_cap_per_partition(settings: WorkerSettings) -> int:
    """The history cap is kept per by-item partition (each count is moved by one owner, in
    log order): ⌈H / partitions⌉ each, so at most about H in all."""
    partitions = settings.topics.ratings_partitions
    return -(-settings.history_cap // partitions) if settings.history_cap else 0


def item_cf_config(settings: WorkerSettings) -> ItemCFConfig:
    return ItemCFConfig(
        kmax=settings.item_cf_kmax,
        fmax=settings.item_cf_fmax,
        similar_size=settings.item_cf_similar_size,
        recent=settings.item_cf_recent,
        decay=settings.item_cf_decay,
        topn_size=settings.topn_size,
        similarity=settings.item_cf_similarity,
    )


def content_config(settings: WorkerSettings) -> ContentConfig:
    return ContentConfig(
        genre_weight=settings.content_genre_weight,
        year_weight=settings.content_year_weight,
        words_weight=settings.content_words_weight,
        tags_weight=settings.content_tags_weight,
        similar_size=settings.content_similar_size,
    )


def embedding_config(settings: WorkerSettings) -> EmbeddingConfig:
    return EmbeddingConfig(
        factors=settings.embedding_factors,
        learning_rate=settings.embedding_learning_rate,
        bias_rate=settings.embedding_bias_rate,
        regularisation=settings.embedding_regularisation,
        hidden=settings.embedding_hidden,
        network_rate=settings.embedding_network_rate,
        rating_bounds=(settings.limits.rating_min, settings.limits.rating_max),
    )
