"""The shipped configurations run with the caps on; the library default stays exact."""

from pathlib import Path

import yaml

from streams.settings import TopicSettings, UserCFSettings, WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
# the item-to-item path's cost per event is bounded by its window (kMax is off: a cap on
# the counted history only throws signal away once the window bounds the pairs)
CAPS = ("USER_CF__FAN_OUT_CAP", "USER_CF__HISTORY_CAP", "ITEM_CF__WINDOW", "ITEM_CF__FMAX")


def test_compose_turns_every_cap_on():
    env = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]
    for name in CAPS:
        value = str(env["environment"][f"STREAMREC_{name}"])
        assert int(value.split(":-")[1].rstrip("}")) > 0, name


def test_the_chart_turns_every_cap_on():
    caps = yaml.safe_load((ROOT / "helm/streamrec/values.yaml").read_text())["caps"]
    assert all(value > 0 for name, value in caps.items() if name != "itemCfKmax")
    template = (ROOT / "helm/streamrec/templates/configmap.yaml").read_text()
    assert all(f"STREAMREC_{name}:" in template for name in CAPS)


def test_the_library_default_is_exact():
    config = WorkerSettings().user_cf
    assert config.fan_out_cap == 0 and config.history_cap_per_partition == 0
    assert WorkerSettings().item_cf.fmax == 0 and WorkerSettings().item_cf.kmax == 0


def test_the_history_cap_is_shared_out_over_the_partitions():
    def per_partition(cap: int, partitions: int) -> int:
        topics = TopicSettings(ratings_partitions=partitions)
        user_cf = UserCFSettings(history_cap=cap)
        return WorkerSettings(user_cf=user_cf, topics=topics).user_cf.history_cap_per_partition

    assert per_partition(1000, 8) == 125
    assert per_partition(1001, 8) == 126  # rounded up: never below the cap in all
    assert per_partition(3, 8) == 1
    assert per_partition(0, 8) == 0
