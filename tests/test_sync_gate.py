"""Which apps wait for the sync in under `blockc start` (apps.json ``wait_for_sync``)."""

from __future__ import annotations

import pytest

from blockc.compiler.render import waits_for_sync
from blockc.types import App


@pytest.mark.parametrize(
    "reads, zones, waits",
    [
        (None, [], True),  # unknown: always waits
        (None, ["/srv"], True),
        ((), ["/home/studio"], False),  # reads nothing a zone could bring
        (("/home/studio/.cfg",), ["/home/studio/workspace"], False),
        (("/home/studio/.cfg",), ["/home/studio"], True),  # the zone covers what it reads
        (("/home/studio/.cfg",), ["/home/studio/.cfg/sub"], True),  # the zone lands inside it
        (("/home/studio/.cfg",), ["/home/studio/.cfgx"], False),  # a prefix, not a parent
        (("/home/studio/.cfg/",), ["/home/studio/./.cfg"], True),  # normalised
    ],
)
def test_waits_for_sync(reads, zones, waits):
    assert waits_for_sync(App(id="a", port=1, reads_at_start=reads), zones) is waits


@pytest.mark.parametrize("bad", ["/etc/app", ("relative/path",), ("${HOME}/.cfg",)])
def test_reads_at_start_must_be_absolute_paths(bad):
    with pytest.raises(ValueError, match="reads_at_start"):
        App(id="a", port=1, reads_at_start=bad)
