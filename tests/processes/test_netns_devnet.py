"""A devnet spread over network namespaces (scripts/netns_devnet.py): partition an executor, heal it.

The slow test needs root and `ip netns`; it skips, naming which, otherwise. It brings up
L1, sequencer, settler, two executors and the challenger, each in its own namespace on
one bridge, and sends transfers through the sequencer's RPC from the `client` namespace
(threads that entered it: the test itself stays in the root namespace). Under that load
executor-1's link is cut (`ip link set v-executor-1 down`) for CUT_S seconds, then healed.
Checked: executor-1 was unreachable while cut; after the heal it reaches the sequencer's
head of the heal moment, fetched the gap by range sync (its range_sync_blocks_total
grows) and derives the L1-safe chain past where it was cut; both executors and the
sequencer then hold the same state root at every block number up to the common safe
head. The time from heal to caught-up is printed (stderr, `-s`). The namespaces are always
deleted (fixture finalizer), pass or fail.

Discovery is on (peer exchange, node.p2p.discovery): each executor is given only the sequencer
as bootstrap, and the test waits for the two executors to list each other as peers, at the
start and again after each heal (a discovered peer that came back is redialled).

The fast tests cover the script's input checks and the config relocation.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from node.block import decode_block
from node.blocknet import load_p2p_section
from node.devnet.configs import config_documents
from node.devnet.params import DevnetSettings, p2p_seed_label
from node.keys.hd import dev_account
from node.p2p.identity import derive_seed, peer_id_from_seed
from node.service import ConfigError
from node.tx import Transfer, sign_tx
from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "netns_devnet.py"
CHAIN_ID = 901
FEE = 10**9
SENDERS = (0, 1, 2, 3)
CUT_S = 15.0
RANGE = 256  # rollup_getBlockRange's limit
# a peer banned for bad gossip is refused for 60 s (node.p2p.peering): an executor that is behind after a heal
# has been seen to reject the other's attestations and ban it, so re-peering may wait for the ban to end
REPEER_S = 120.0
SETTLER_LEAD_S = 5.0  # in B, the settler is cut this long after the executor
SETTLER_GRACE_S = 6.0  # and healed at most this long after the executor (its cut stays under the 20 s window)


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("netns_devnet", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["netns_devnet"] = module
    spec.loader.exec_module(module)
    return module


nd = load_script()


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def report(line: str) -> None:
    print(line, file=sys.stderr)


# -- fast: input checks and config relocation ----------------------------------------------------------


def test_relocated_configs_name_no_loopback_address(tmp_path: Path) -> None:
    settings = DevnetSettings(executors=2)
    specs = nd.plan(tmp_path, settings)
    docs = config_documents(specs, settings)
    relocated = {spec.name: nd.relocate(docs[spec.name], spec, specs) for spec in specs}
    assert "127.0.0.1" not in repr(relocated)
    assert relocated["l1"]["node"]["rpc_host"] == "10.77.0.2"
    assert relocated["sequencer"]["sequencer"]["l1_rpc"].startswith("http://10.77.0.2:")
    assert relocated["executor-1"]["executor"]["sequencer_rpc"].startswith("http://10.77.0.3:")
    assert relocated["executor-1"]["p2p"]["listen_host"] == "10.77.0.11"
    boot = relocated["executor-1"]["p2p"]["bootstrap"]
    assert [addr.split("/")[2] for addr in boot] == ["10.77.0.3"]  # the sequencer only: peers are discovered
    section = load_p2p_section(relocated["executor-1"])
    assert section is not None and section.listen_host == "10.77.0.11"


@pytest.mark.parametrize("host", ["", "localhost", "10.77.0", "10.77.0.300", "::1", 7])
def test_a_malformed_p2p_listen_host_is_rejected(host: object) -> None:
    with pytest.raises(ConfigError, match="listen_host"):
        load_p2p_section({"p2p": {"seed": "x", "listen_host": host}})


def test_with_discovery_executors_bootstrap_to_the_sequencer_only(tmp_path: Path) -> None:
    settings = DevnetSettings(executors=3)
    specs = nd.plan(tmp_path, settings)
    docs = config_documents(specs, settings)
    for spec in specs:
        doc = nd.relocate(docs[spec.name], spec, specs, discovery=True)
        if spec.role == "executor":
            assert [addr.split("/")[2] for addr in doc["p2p"]["bootstrap"]] == ["10.77.0.3"]
        if "p2p" in doc:
            section = load_p2p_section(doc)
            assert section is not None and section.discovery


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_a_malformed_p2p_discovery_flag_is_rejected(value: object) -> None:
    with pytest.raises(ConfigError, match="discovery"):
        load_p2p_section({"p2p": {"seed": "x", "discovery": value}})


def test_listen_host_defaults_to_loopback() -> None:
    section = load_p2p_section({"p2p": {"seed": "x"}})
    assert section is not None and section.listen_host == "127.0.0.1"


def test_bad_names_and_prefixes_are_rejected() -> None:
    for bad in ("", "rdn", "rdnX-", "other-", "rdnabcdefghij-", "rdn1/../"):
        with pytest.raises(nd.NetnsError, match="prefix"):
            nd.check_prefix(bad)
    for name in ("bogus", "executor-", "executor-x", "executor-100", "br"):
        with pytest.raises(nd.NetnsError, match="no address"):
            nd.address_of(name)
    assert nd.address_of("executor-3") == "10.77.0.13"


def test_cli_rejects_bad_input_with_exit_code_2(tmp_path: Path) -> None:
    result = run_script("cut", "bogus", "--prefix", "rdnzz-")
    assert result.returncode == 2 and "no address for 'bogus'" in result.stderr
    result = run_script("down", "--prefix", "not-ours")
    assert result.returncode == 2 and "prefix" in result.stderr
    result = run_script("down", "--dir", str(tmp_path))
    assert result.returncode == 2 and "does not exist" in result.stderr
    (tmp_path / "netns.json").write_text("{not json")
    result = run_script("heal", "executor-0", "--dir", str(tmp_path))
    assert result.returncode == 2 and "not valid JSON" in result.stderr
    result = run_script("up", "--dir", str(tmp_path / "x"), "--executors", "0")
    assert result.returncode == 2 and "--executors" in result.stderr
    assert not (tmp_path / "x" / "netns.json").exists()


# -- slow: the real devnet over namespaces --------------------------------------------------------------


def netns_unavailable() -> str | None:
    """Why this machine cannot run the namespaced devnet, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns add)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = nd.new_prefix() + "probe"
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        return f"`ip netns add` failed: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True, timeout=30)
    return None


class NetDevnet:
    def __init__(self, directory: Path) -> None:
        self.prefix: str = nd.new_prefix()
        self.directory = directory
        self.state: dict[str, Any] = {}
        self.up_at = 0.0
        self.client = nd.NetnsWorkers(self.prefix + nd.CLIENT, threads=len(SENDERS) + 2)

    def up(self) -> None:
        settings = DevnetSettings(executors=2, block_time_ms=100, l1_block_time_ms=1000)
        self.state = nd.up(self.directory, self.prefix, settings, timeout_s=180, discovery=True)
        self.up_at = time.monotonic()

    def url(self, name: str) -> str:
        return next(str(p["rpc"]) for p in self.state["processes"] if p["name"] == name)

    def call(self, name: str, method: str, *params: Any, timeout: float = 10) -> Any:
        call = functools.partial(nd.rpc_call, self.url(name), method, *params, timeout=timeout)
        return self.client.run(call, timeout=timeout + 5)

    def metric(self, name: str, metric: str) -> float:
        text = self.client.run(nd.http_get, self.url(name) + "metrics", timeout=15)
        match = re.search(rf"^{metric} ([0-9.e+-]+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def status(self, name: str) -> dict[str, Any]:
        return dict(self.call(name, "rollup_syncStatus"))

    def state_roots(self, name: str, first: int, count: int) -> list[tuple[int, bytes]]:
        """(number, state root) of blocks first.. (rollup_getBlockRange may return fewer: asked again)."""
        roots: list[tuple[int, bytes]] = []
        while len(roots) < count:
            start = first + len(roots)
            raws = self.call(name, "rollup_getBlockRange", start, count - len(roots))
            assert raws, f"{name} returned no blocks from {start}"
            blocks = [decode_block(bytes.fromhex(raw.removeprefix("0x"))) for raw in raws]
            roots += [(block.header.number, block.header.state_root) for block in blocks]
        return roots

    def down(self) -> None:
        self.client.close()
        nd.teardown(self.prefix)


@pytest.fixture
def netdevnet(tmp_path: Path) -> Iterator[NetDevnet]:
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    net = NetDevnet(tmp_path / "net")
    try:
        net.up()
        yield net
    finally:
        net.down()
        assert nd.namespaces_with(net.prefix) == []


class Senders:
    """Transfers from dev0..dev3 through rollup_sendRawTransactionSync, sent from the client namespace."""

    def __init__(self, net: NetDevnet) -> None:
        self.net = net
        self.url = net.url("sequencer")
        self.receipts = 0
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def __enter__(self) -> Senders:
        self.futures = [self.net.client.submit(self._run, i) for i in SENDERS]
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for future in self.futures:
            future.result(30)

    def _run(self, index: int) -> None:
        key = dev_account(index)
        to = dev_account(6).address
        nonce = int(nd.rpc_call(self.url, "rollup_getNonce", "0x" + key.address.hex(), "latest"))
        while not self.stop.wait(0.05):
            raw = sign_tx(key, CHAIN_ID, nonce, FEE, Transfer(to, 1 + index)).encode()
            try:
                nd.rpc_call(self.url, "rollup_sendRawTransactionSync", "0x" + raw.hex(), 3000, timeout=10)
            except Exception as exc:  # noqa: BLE001 - counted and checked by the test
                with self.lock:
                    self.failures.append(str(exc))
                nonce = self._nonce(key.address.hex(), nonce)
                continue
            nonce += 1
            with self.lock:
                self.receipts += 1

    def _nonce(self, address: str, fallback: int) -> int:
        try:
            return int(nd.rpc_call(self.url, "rollup_getNonce", "0x" + address, "latest"))
        except Exception:  # noqa: BLE001 - the next send tells
            return fallback


def unreachable(net: NetDevnet, name: str) -> bool:
    try:
        net.call(name, "rollup_syncStatus", timeout=2)
    except Exception:  # noqa: BLE001 - a timeout or a refused connection: both mean unreachable
        return True
    return False


def peer_id(name: str) -> str:
    return str(peer_id_from_seed(derive_seed(p2p_seed_label(name))))


def executors_peered(net: NetDevnet) -> bool:
    try:
        peers = {name: set(net.status(name).get("p2p", {}).get("peers", [])) for name in ("executor-0", "executor-1")}
    except OSError:
        return False
    return peer_id("executor-1") in peers["executor-0"] and peer_id("executor-0") in peers["executor-1"]


def synced_blocks(net: NetDevnet) -> float:
    try:
        return net.metric("executor-1", "range_sync_blocks_total")
    except OSError:
        return -1.0


def link(net: NetDevnet, verb: str, name: str) -> None:
    result = run_script(verb, name, "--dir", str(net.directory))
    assert result.returncode == 0, result.stderr


def head(net: NetDevnet, name: str, kind: str = "unsafe") -> int:
    """The head's number; -1 when the node does not answer in time (busy catching up, or cut off)."""
    try:
        return int(net.call(name, "rollup_syncStatus", timeout=5)[kind]["number"])
    except OSError:  # URLError, socket and future timeouts
        return -1


def catch_up(net: NetDevnet, target: int) -> float:
    """Seconds until executor-1's unsafe head reaches `target` (timed from now)."""
    started = time.monotonic()
    wait_for(lambda: head(net, "executor-1") >= target, 120, f"executor-1 to reach block {target}")
    return time.monotonic() - started


@pytest.mark.slow
def test_a_partitioned_executor_catches_up_after_healing(netdevnet: NetDevnet) -> None:
    net = netdevnet
    # discovery: each executor's only bootstrap address is the sequencer's, yet they find each other
    wait_for(lambda: executors_peered(net), 60, "executor-0 and executor-1 to find each other (peer exchange)")
    lines: list[str] = [f"executors peered {time.monotonic() - net.up_at:.2f} s after the devnet was up (at most)"]
    wait_for(lambda: all(head(net, e, "safe") >= 5 for e in ("executor-0", "executor-1")), 120, "safe blocks")
    with Senders(net) as senders:
        wait_for(lambda: senders.receipts >= 40, 90, "40 transfers through the sequencer")

        # A: executor-1 alone cut off; L1 keeps getting batches, so on healing it derives most of the gap
        before = head(net, "executor-1")
        link(net, "cut", "executor-1")
        cut_at, receipts_at_cut = time.monotonic(), senders.receipts
        assert unreachable(net, "executor-1")
        time.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
        target = head(net, "sequencer")
        assert target > before + 50 and senders.receipts > receipts_at_cut  # the chain went on, under load
        link(net, "heal", "executor-1")
        healed_a = time.monotonic()
        seconds = catch_up(net, target)
        lines.append(f"A (executor cut {CUT_S:.0f} s, {target - before} blocks behind): caught up in {seconds:.2f} s")
        wait_for(lambda: executors_peered(net), REPEER_S, "the executors to be peered again after the heal")
        lines.append(f"re-peered {time.monotonic() - healed_a:.2f} s after the heal")

        # B: executor-1 cut, then the settler too (no new batches on L1): the gap past L1 is range-synced
        synced_before = net.metric("executor-1", "range_sync_blocks_total")
        before = head(net, "executor-1")
        link(net, "cut", "executor-1")
        time.sleep(SETTLER_LEAD_S)
        link(net, "cut", "settler")
        settler_cut_at = time.monotonic()
        time.sleep(CUT_S - SETTLER_LEAD_S)
        target = head(net, "sequencer")
        assert before >= 0 and target > before
        link(net, "heal", "executor-1")
        healed_at = time.monotonic()
        try:  # the settler stays cut until range sync has started (at most SETTLER_GRACE_S): L1 cannot fill the gap
            wait_for(
                lambda: synced_blocks(net) > synced_before,
                SETTLER_GRACE_S,
                "range sync to start",
            )
        except AssertionError:
            pass  # asserted below, after the settler is back
        finally:
            link(net, "heal", "settler")
        settler_cut_s = time.monotonic() - settler_cut_at
        catch_up(net, target)
        seconds = time.monotonic() - healed_at  # from healing executor-1
        synced = net.metric("executor-1", "range_sync_blocks_total") - synced_before
        lines.append(
            f"B (executor cut {CUT_S:.0f} s, settler cut {settler_cut_s:.1f} s, {target - before} blocks behind): "
            f"caught up in {seconds:.2f} s, {synced:.0f} blocks by range sync"
        )
        assert synced > 0, "the gap past L1 was not fetched by range sync"
        safe_target = head(net, "sequencer")
        wait_for(lambda: executors_peered(net), REPEER_S, "the executors to be peered again after the second heal")
        names = ("sequencer", "executor-0", "executor-1")
        wait_for(lambda: min(head(net, n, "safe") for n in names) >= safe_target, 120, "the safe heads (from L1)")
    lines.append(
        f"{senders.receipts} transfers, {len(senders.failures)} failed sends {sorted(set(senders.failures))[:3]}"
    )
    report("netns partition: " + "; ".join(lines))
    assert len(senders.failures) <= senders.receipts // 10, senders.failures[:5]
    # every state root agrees, block by block, up to the common safe head
    common = min(head(net, name, "safe") for name in names)
    assert common >= safe_target
    for first in range(1, common + 1, RANGE):
        count = min(RANGE, common + 1 - first)
        roots = {name: net.state_roots(name, first, count) for name in names}
        assert len(roots["sequencer"]) == count
        assert roots["executor-0"] == roots["sequencer"], f"executor-0 differs in blocks {first}..{first + count - 1}"
        assert roots["executor-1"] == roots["sequencer"], f"executor-1 differs in blocks {first}..{first + count - 1}"
