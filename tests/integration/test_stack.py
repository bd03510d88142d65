import pytest

from streams.stack import manager
from streams.stack.config import StackSettings

pytestmark = pytest.mark.integration


def test_stack_up_twice_is_harmless(services):
    if services.source != "local stack":
        pytest.skip(f"services come from {services.source}, not the local stack")
    settings = StackSettings()
    first = {s.name: s for s in manager.up(settings, log=lambda _l: None)}
    lines: list[str] = []
    second = {s.name: s for s in manager.up(settings, log=lines.append)}
    assert {s.state for s in second.values()} <= {"running", "external"}
    assert {n: s.pid for n, s in first.items()} == {n: s.pid for n, s in second.items()}
    assert all("already" in line for line in lines)
    assert all(s.state in ("running", "external") for s in manager.status(settings))
