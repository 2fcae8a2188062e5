"""The benchmark's reading of the sequencer's tx_soft_confirm_seconds histogram (scripts/bench_devnet.py):
quantiles of the observations between two scrapes, interpolated inside their bucket."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_devnet.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_devnet_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def scrape(counts: dict[str, float]) -> dict[str, dict[str, float]]:
    return {"sequencer": {f'x_bucket{{le="{le}"}}': n for le, n in counts.items()}}


def test_quantiles_count_only_what_was_observed_between_the_scrapes(bench: ModuleType) -> None:
    before = scrape({"0.001": 100, "0.002": 100, "0.005": 100, "+Inf": 100})  # an earlier run: all under 1 ms
    after = scrape({"0.001": 110, "0.002": 160, "0.005": 200, "+Inf": 200})
    quantile = bench.histogram_quantile
    assert quantile(before, after, "sequencer", "x", 0.5) == pytest.approx(0.0018)  # 40 of 50 into (1, 2] ms
    assert quantile(before, after, "sequencer", "x", 0.05) == pytest.approx(0.0005)  # 5 of 10 into (0, 1] ms
    assert quantile(before, after, "sequencer", "x", 0.99) == pytest.approx(0.002 + 0.003 * 39 / 40)


def test_no_observations_or_no_histogram_give_none_and_the_open_bucket_its_lower_bound(bench: ModuleType) -> None:
    same = scrape({"0.001": 5, "+Inf": 5})
    assert bench.histogram_quantile(same, same, "sequencer", "x", 0.5) is None
    assert bench.histogram_quantile({}, {}, "sequencer", "x", 0.5) is None
    slow = scrape({"0.001": 0, "0.005": 0, "+Inf": 4})
    assert bench.histogram_quantile({}, slow, "sequencer", "x", 0.5) == 0.005
