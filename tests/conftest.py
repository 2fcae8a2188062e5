"""The order in which pytest-xdist hands out test modules (`scripts/test` runs `-n 2 --dist loadfile`).

Under `--dist loadfile` a module runs whole on one worker (so a module-scoped devnet starts once), and
modules are handed out in collection order as workers free up. In an xdist worker the modules holding
slow (real-process) tests are collected first, longest-known first, so the long ones start at once
and the short ones fill in around them, instead of one long module starting last and running alone.
Without xdist nothing changes. Every worker sorts the same way, as xdist requires.
"""

from __future__ import annotations

import pytest

# the modules with the longest total in a two-worker full run (2026-12-06): started first, in this order;
# any other module with a slow test comes after them
LONGEST_FIRST = (
    "tests/processes/test_netns_devnet.py",
    "tests/challenger/test_allied_challengers.py",
    "tests/processes/test_settler_gossip.py",
    "tests/processes/test_devnet_control.py",
    "tests/processes/test_devnet_restart.py",
    "tests/processes/test_soak_smoke.py",
    "tests/plugin/test_pytest_plugin.py",
    "tests/processes/test_process_control.py",
    "tests/processes/test_fraud_devnet.py",
    "tests/processes/test_sequencer_heal_devnet.py",
    "tests/processes/test_attestations_devnet.py",
    "tests/processes/test_attacks_devnet.py",
    "tests/devnet_inproc/test_revert_in_place_devnet.py",
    "tests/processes/test_devnet_cli.py",
    "tests/static/test_static_checks.py",
)


def _module_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # not an xdist worker
        return
    slow_modules = {_module_of(item) for item in items if item.get_closest_marker("slow") is not None}

    def rank(item: pytest.Item) -> int:
        module = _module_of(item)
        if module in LONGEST_FIRST:
            return LONGEST_FIRST.index(module)
        return len(LONGEST_FIRST) if module in slow_modules else len(LONGEST_FIRST) + 1

    items.sort(key=rank)  # stable: the order within a module is kept
