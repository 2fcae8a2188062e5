"""The pytest plugin (node/pytest_plugin.py), used the way a test suite would use it.

Each test writes a user's test module and runs pytest on it in a subprocess (pytest's own
`pytester`): the plugin is found through its `pytest11` entry point, starts a real devnet, and
brings it down at the end. Each run starts one devnet (two under xdist), so the modules here
bundle many user tests into few runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.devnet.procfs import is_our_process

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.slow

RUN_TIMEOUT_S = 600

USER_TESTS = """
import json
import pytest
from node.client import RollupClient, errors

SINK = "0x000000000000000000000000000000000000dEaD"
ISOLATED_SINK = "0x000000000000000000000000000000000000cafe"
SNAPSHOT_DIRS = []


def test_chain_id(rollup_client):
    assert rollup_client.chain_id() == 901


def test_transfer_between_fresh_accounts(rollup_client, funded_account):
    alice = funded_account("10eth")
    bob = funded_account(l2=None)
    assert rollup_client.balance(alice.address) == 10 * 10**18
    rollup_client.transfer(alice.key, bob.address, "1.5eth", wait="safe")
    assert rollup_client.balance(bob.address) == 1_500_000_000_000_000_000
    assert rollup_client.nonce(alice.address) == 1


def test_l1_funding(rollup_client, funded_account):
    carol = funded_account(l2=None, l1="3eth")
    assert rollup_client.l1_balance(carol.address) == 3 * 10**18


def test_errors_are_typed(rollup_client, funded_account):
    dave = funded_account("1eth")
    rollup_client.transfer(dave.key, SINK, 1, nonce=0, wait="unsafe")
    with pytest.raises(errors.NonceTooLow) as caught:
        rollup_client.transfer(dave.key, SINK, 1, nonce=0, wait=None)
    assert caught.value.code == -32012


def test_isolated_transfer_is_made(rollup_client, funded_account, fn_isolation):
    erin = funded_account("2eth")
    rollup_client.transfer(erin.key, ISOLATED_SINK, "1eth", wait="unsafe")
    assert rollup_client.balance(ISOLATED_SINK) == 10**18


def test_isolated_transfer_was_reverted(rollup_devnet, rollup_client, fn_isolation):
    assert rollup_client.balance(ISOLATED_SINK) == 0
    SNAPSHOT_DIRS.append(snapshot_dirs(rollup_devnet))


def test_consecutive_isolated_tests_share_one_snapshot(rollup_devnet, fn_isolation):
    assert snapshot_dirs(rollup_devnet) == SNAPSHOT_DIRS[0]


def test_a_warp_passes_a_funding_interval(rollup_devnet, rollup_client, funded_account, fn_isolation):
    maker, other = funded_account("5eth"), funded_account("5eth")  # a two-sided book: its mid is 20
    rollup_client.order(maker.key, "BTC-PERP", "buy", "0.001", price="19.99", wait="unsafe")
    rollup_client.order(other.key, "BTC-PERP", "sell", "0.001", price="20.01", wait="unsafe")
    before = int(rollup_client.market("BTC-PERP")["fundingIndex"])
    rollup_devnet.set_oracle_price("BTC-PERP", "19.9")  # below the book's mid: longs pay shorts
    warp = rollup_devnet.increase_time(3600)  # an hour later in every process
    assert rollup_client.chain_time_ms() >= warp["l1Timestamp"]
    assert int(rollup_client.market("BTC-PERP")["fundingIndex"]) > before


def test_the_warp_was_reverted(rollup_devnet, rollup_client, fn_isolation):
    import time
    assert rollup_client.chain_time_ms() < time.time() * 1000 + 60_000
    assert rollup_client.market("BTC-PERP")["oraclePrice"] == 20_000_000_000_000


def snapshot_dirs(devnet):
    return sorted(p.name for p in (devnet.directory / "snapshots").iterdir() if p.is_dir())


@pytest.mark.rollup_partitioned("executor-0")
def test_partitioned_executor_only_follows_l1(rollup_devnet, rollup_client):
    import time
    executor = RollupClient(rpc=rollup_devnet.endpoints["executors"][0])
    first = executor.call("rollup_syncStatus")["unsafe"]["number"]  # what it had before the cut
    for _ in range(15):  # cut off gossip, its unsafe head moves only with what it derives from L1
        status = executor.call("rollup_syncStatus")
        assert status["unsafe"]["number"] <= max(first, status["safe"]["number"]), (first, status)
        time.sleep(0.2)
    assert rollup_client.block_number("latest") > first + 5  # the chain moved on meanwhile


def test_healed_executor_catches_up(rollup_devnet, rollup_client):
    import time
    executor = RollupClient(rpc=rollup_devnet.endpoints["executors"][0])
    deadline = time.monotonic() + 60
    while executor.block_number("latest") < rollup_client.block_number("latest") - 5:
        assert time.monotonic() < deadline, "executor-0 did not catch up after heal"
        time.sleep(0.2)


def test_crashed_role_is_restarted_after_the_test(rollup_devnet, rollup_faults):
    rollup_faults.crash("executor-0")
    executor = RollupClient(rpc=rollup_devnet.endpoints["executors"][0])
    with pytest.raises(errors.TransportError):
        executor.chain_id()


def test_restarted_role_answers(rollup_devnet):
    assert RollupClient(rpc=rollup_devnet.endpoints["executors"][0]).chain_id() == 901
"""


def test_a_user_suite_runs_against_one_devnet(pytester: pytest.Pytester) -> None:
    """Thirteen tests in one module, then a module-isolated module and one after it, all on one devnet."""
    pytester.makepyfile(test_a_user=USER_TESTS, test_b_isolated=MODULE_ISOLATED, test_c_after=AFTER_MODULE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", timeout=RUN_TIMEOUT_S)
    result.assert_outcomes(passed=16)
    assert_devnets_stopped(Path(pytester.path), expected=1)


def assert_devnets_stopped(root: Path, expected: int) -> None:
    """Every devnet the run started was brought down: no recorded process of it still runs."""
    states = [json.loads(path.read_text()) for path in root.glob("**/devnet.json")]
    assert len(states) == expected, [state.get("dir") for state in states]
    for state in states:
        for proc in state.get("processes", []):
            pid = proc.get("pid")
            assert not (isinstance(pid, int) and is_our_process(pid, proc["config"])), f"{proc['name']} still runs"


MODULE_ISOLATED = """
SINK = "0x000000000000000000000000000000000000beef"

def test_a_transfer_inside_the_module(rollup_client, funded_account, module_isolation):
    frank = funded_account("2eth")
    rollup_client.transfer(frank.key, SINK, "1eth", wait="unsafe")
    assert rollup_client.balance(SINK) == 10**18

def test_still_inside_the_module(rollup_client, module_isolation):
    assert rollup_client.balance(SINK) == 10**18
"""

AFTER_MODULE = """
SINK = "0x000000000000000000000000000000000000beef"

def test_the_module_was_reverted(rollup_client):
    assert rollup_client.balance(SINK) == 0
"""


XDIST_TESTS = """
import json, os
from pathlib import Path

def test_worker_devnet(rollup_devnet, rollup_client, funded_account):
    account = funded_account("1eth")
    assert rollup_client.balance(account.address) == 10**18
    worker = os.environ.get("PYTEST_XDIST_WORKER", "none")
    out = Path(os.environ["PLUGIN_OUT"]) / f"{worker}.json"
    out.write_text(json.dumps({"rpc": rollup_devnet.endpoints["sequencer"], "dir": str(rollup_devnet.directory)}))

def test_worker_devnet_again(rollup_devnet, rollup_client, funded_account):
    assert rollup_client.chain_id() == 901
"""


def test_each_xdist_worker_gets_its_own_devnet(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    out = pytester.mkdir("out")
    monkeypatch.setenv("PLUGIN_OUT", str(out))
    pytester.makepyfile(test_x1=XDIST_TESTS, test_x2=XDIST_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", timeout=RUN_TIMEOUT_S)
    result.assert_outcomes(passed=4)
    seen = [json.loads(path.read_text()) for path in out.glob("gw*.json")]
    assert len(seen) == 2, seen
    assert seen[0]["rpc"] != seen[1]["rpc"] and seen[0]["dir"] != seen[1]["dir"]
    assert_devnets_stopped(Path(pytester.path), expected=2)


def test_a_devnet_that_cannot_start_fails_with_its_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_needs_devnet(rollup_client):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--rollup-block-time-ms", "0", timeout=120)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*rollup_devnet:*block*time*"])


def test_a_bad_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_needs_devnet(rollup_client):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--rollup-executors", "two", timeout=120)
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--rollup-executors must be an integer*"])


def test_a_bad_marker_argument_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=("import pytest\n@pytest.mark.rollup_partitioned(3)\ndef test_marked():\n    pass\n"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    assert result.ret != 0
    assert "takes one string argument" in result.stdout.str() + result.stderr.str()
