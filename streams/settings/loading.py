"""Start-up checks of the environment: renamed variables and misspelt nested names are
refused with the right name, never silently ignored (an ignored cap or weight would
change results without a word)."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

ENV_PREFIX = "STREAMREC_"

# the flat names of earlier releases → their nested names (the worker's settings)
_PATH_RENAMES = {
    "USER_CF": ("NEIGHBOURHOOD_SIZE", "TOPN_SIZE", "MIN_SUPPORT", "FAN_OUT_CAP", "HISTORY_CAP",
                "POPULARITY_HALF_LIFE_S", "POPULARITY_EPOCH_S"),
    "ITEM_CF": ("ITEM_CF_KMAX", "ITEM_CF_FMAX", "ITEM_CF_SIMILAR_SIZE", "ITEM_CF_RECENT",
                "ITEM_CF_DECAY", "ITEM_CF_SIMILARITY", "ITEM_CF_ROW_CACHE_ENTRIES"),
    "CONTENT": ("CONTENT_GENRE_WEIGHT", "CONTENT_YEAR_WEIGHT", "CONTENT_WORDS_WEIGHT",
                "CONTENT_TAGS_WEIGHT", "CONTENT_SIMILAR_SIZE"),
    "EMBEDDING": ("EMBEDDING_FACTORS", "EMBEDDING_LEARNING_RATE", "EMBEDDING_BIAS_RATE",
                  "EMBEDDING_REGULARISATION", "EMBEDDING_HIDDEN", "EMBEDDING_NETWORK_RATE"),
    "REFRESH": ("REFRESH_BUDGET", "REFRESH_INTERVAL_S"),
}  # fmt: skip
WORKER_RENAMES = {
    ENV_PREFIX + old: f"{ENV_PREFIX}{group}__{old.removeprefix(group + '_')}"
    for group, olds in _PATH_RENAMES.items()
    for old in olds
} | {
    "STREAMREC_HYBRID": "STREAMREC_EMBEDDING__ENABLED",
    "STREAMREC_TOPN_SIZE": "STREAMREC_USER_CF__TOPN_SIZE, STREAMREC_ITEM_CF__TOPN_SIZE and "
    "STREAMREC_EMBEDDING__TOPN_SIZE (one per path)",
}
# the reader's blend names of earlier releases: the worker fuses the served list now
BLEND_RENAMES = {
    "STREAMREC_BLEND_ITEM_CF": "STREAMREC_BLEND__ITEM_CF",
    "STREAMREC_BLEND_USER_CF": "STREAMREC_BLEND__USER_CF",
    "STREAMREC_BLEND_CONTENT": "STREAMREC_BLEND__CONTENT",
    "STREAMREC_BLEND_EMBEDDING": "STREAMREC_BLEND__EMBEDDING",
    "STREAMREC_BLEND_POPULAR": "STREAMREC_BLEND__POPULAR",
    "STREAMREC_COLD_START_RATINGS": "STREAMREC_BLEND__COLD_START_RATINGS",
}
# a group's name alone once held a flag or a kind; now it could only hold the group as JSON
_GROUP_FLAGS = {
    "STREAMREC_ITEM_CF": "STREAMREC_ITEM_CF__ENABLED",
    "STREAMREC_CONTENT": "STREAMREC_CONTENT__ENABLED",
    "STREAMREC_EMBEDDING": "STREAMREC_EMBEDDING__KIND (neural or mf)",
}
DERIVED = {"rating_bounds", "history_partitions"}  # set from other settings, never by hand


def refused(
    environ: Mapping[str, str], renames: Mapping[str, str], groups: Mapping[str, set[str]]
) -> list[str]:
    """What is wrong with ``environ``: renamed variables, a group's name holding a flag,
    and ``STREAMREC_<GROUP>__<NAME>`` where the group has no such setting."""
    problems = []
    for name, value in sorted(environ.items()):
        upper = name.upper()
        if upper in renames:
            problems.append(f"{name} was renamed: set {renames[upper]}")
        elif upper in _GROUP_FLAGS and upper[len(ENV_PREFIX) :].lower() in groups:
            if not value.lstrip().startswith("{"):
                problems.append(f"{name}={value!r}: set {_GROUP_FLAGS[upper]}")
        elif upper.startswith(ENV_PREFIX) and "__" in upper:
            group, _sep, rest = upper[len(ENV_PREFIX) :].partition("__")
            known = groups.get(group.lower())
            field = rest.split("__", 1)[0].lower()
            if known is not None and field not in known:
                choices = ", ".join(sorted(known))
                problems.append(f"{name}: {group.lower()} has no setting {field!r} ({choices})")
    return problems


def nested_groups(cls: type[BaseModel]) -> dict[str, set[str]]:
    """Each nested field of a settings class → the names its variables may set."""
    groups = {}
    for name, info in cls.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            groups[name] = set(kind.model_fields)
        elif isinstance(kind, type) and dataclasses.is_dataclass(kind):
            groups[name] = {f.name for f in dataclasses.fields(kind)} - DERIVED
    return groups


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Build a settings object or exit with status 2 and a readable list of what is wrong."""
    lines = [f"streamrec: refusing to start, bad configuration ({cls.__name__}):"]
    renames = getattr(cls, "RENAMED", {})
    problems = refused(os.environ, renames, nested_groups(cls))
    if not problems:
        try:
            return cls()
        except ValidationError as exc:
            for error in exc.errors():
                name = ENV_PREFIX + "__".join(str(part) for part in error["loc"]).upper()
                problems.append(f"{name}: {error['msg']}")
        except SettingsError as exc:  # a nested group's variable that is not JSON
            problems.append(str(exc))
    print("\n".join(lines + [f"  {p}" for p in problems]), file=sys.stderr)
    raise SystemExit(2) from None


class StreamrecSettings(BaseSettings):
    """What the worker's and the reader's settings share: ``STREAMREC_`` variables, nested
    fields joined by ``__``, and the refusal of the names in ``RENAMED``, also for settings
    built without ``load_settings`` (tests, tools)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore"
    )
    RENAMED: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _no_renamed(cls, data: Any) -> Any:
        if problems := refused(os.environ, cls.RENAMED, {}):
            raise ValueError("; ".join(problems))
        return data
