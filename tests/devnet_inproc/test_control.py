"""node.devnet.inproc.control over a small role with a real RocksDB store: snapshot, revert, hold, refusals.

The wire codes: ControlDisabled (-32008) on a process not in devnet mode, InvalidParams (-32602)
for a bad dir or option, ControlRefused (-32003) for a call while another one runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from rocksdict import DbClosedError

from node.clock import ChainClock
from node.devnet.inproc import control as inproc_control
from node.devnet.inproc.control import METHODS, InprocControl, inproc_handlers, register_inproc
from node.devnet.inproc.swap import leftovers
from node.rpc.control import register_control
from node.rpc.errors import ControlRefused, InvalidParams
from node.rpc.server import RpcServer
from node.store.kv import KVStore

KEY = b"head"


class StoreRole:
    """A role whose whole state is one value in its store and one side file."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self.kv = KVStore(data_dir / "chain")
        self.head = self.kv.get(KEY)
        self._held = False
        self.loops = True
        self.slow_reopen: asyncio.Event | None = None
        self.broken = False
        self.failed: BaseException | None = None

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def held(self) -> bool:
        return self._held

    async def hold(self) -> None:
        self._held = True

    def release(self) -> None:
        self._held = False

    def stores(self) -> Sequence[KVStore]:
        return [self.kv]

    async def stop_loops(self) -> None:
        self.loops = False

    def close_stores(self) -> None:
        self.kv.close()

    async def reopen(self) -> None:
        if self.slow_reopen is not None:
            await self.slow_reopen.wait()
        if self.broken:
            raise RuntimeError("the store is unreadable")
        self.kv.reopen()
        self.head = self.kv.get(KEY)
        self._held = False

    def start_loops(self) -> None:
        self.loops = True

    def fail(self, exc: BaseException) -> None:
        self.failed = exc

    def commit(self, value: bytes) -> None:
        self.kv.write({KEY: value})
        self.head = value
        (self.data_dir / "journal").write_text(value.decode())


@pytest.fixture
def role(tmp_path: Path) -> Iterator[StoreRole]:
    data_dir = tmp_path / "net" / "data" / "sequencer"
    data_dir.mkdir(parents=True)
    (tmp_path / "net" / "snapshots").mkdir()
    made = StoreRole(data_dir)
    yield made
    with contextlib.suppress(DbClosedError):  # a test leaves it closed
        made.kv.close()


def snapshot_dir(role: StoreRole, number: int) -> Path:
    target = role.data_dir.parent.parent / "snapshots" / f"s{number}-0000abcd" / "sequencer"
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


@pytest.mark.parametrize("undo", [True, False])
async def test_revert_to_a_snapshot_brings_back_the_store_the_side_files_and_the_clock(
    role: StoreRole, undo: bool
) -> None:
    clock = ChainClock()
    clock.load(role.data_dir)
    clock.set_offset(5_000)
    control = InprocControl("sequencer", role, clock)
    role.commit(b"block-1")
    target = snapshot_dir(role, 1)
    taken = await control.quiesce_snapshot([str(target)])
    assert taken["stores"] == 1 and taken["files"] >= 2 and not role.held and not taken["held"]
    assert (target / "chain" / "CURRENT").exists() and (target / "journal").read_text() == "block-1"

    role.commit(b"block-2")
    clock.set_offset(9_000)
    (role.data_dir / "later").mkdir()
    (role.data_dir / "later" / "file").write_text("made after the snapshot")
    for _ in range(2):  # the snapshot stays usable
        reverted = await control.revert_to([str(target), {"undo": undo}])
        if undo:  # the store rewound in place, never closed
            assert reverted["way"] == "undo" and {"files", "rewind", "reopen"} <= set(reverted["timings"])
        else:
            assert reverted["way"] == "swap" and {"stage", "stop", "swap", "reopen"} <= set(reverted["timings"])
        assert not reverted["held"] and not (role.data_dir / "later").exists()
        assert role.head == b"block-1" and role.kv.get(KEY) == b"block-1"
        assert (role.data_dir / "journal").read_text() == "block-1"
        assert clock.offset_ms == 5_000 and role.loops and not role.held
        role.commit(b"block-3")
    assert (target / "journal").read_text() == "block-1"
    await asyncio.sleep(0.05)
    for _ in range(100):  # the replaced dirs are deleted in a thread
        if not leftovers(role.data_dir):
            break
        await asyncio.sleep(0.02)
    assert leftovers(role.data_dir) == []


async def test_a_snapshot_copied_without_the_role_reverts_by_swapping(role: StoreRole) -> None:
    """A copy the role did not take itself (a frozen process copied by the control endpoint) has no undo mark in
    the store: the revert swaps the data dir and reopens, whatever `undo` asks."""
    control = InprocControl("sequencer", role, ChainClock())
    role.commit(b"block-1")
    target = snapshot_dir(role, 1)
    target.mkdir()
    role.kv.checkpoint(target / "chain")  # as node.devnet.datacopy copies a stopped process's store
    (target / "journal").write_text("block-1")
    role.commit(b"block-2")
    reverted = await control.revert_to([str(target), {"undo": True}])
    assert reverted["way"] == "swap" and role.head == b"block-1" and role.kv.get(KEY) == b"block-1"
    taken = await control.quiesce_snapshot([str(snapshot_dir(role, 2))])  # the role's own: marked
    assert taken["stores"] == 1
    role.commit(b"block-3")
    again = await control.revert_to([str(snapshot_dir(role, 2))])
    assert again["way"] == "undo" and role.head == b"block-1" and role.kv.get(KEY) == b"block-1"


async def test_hold_keeps_the_role_held_until_resume_or_the_lease(
    role: StoreRole, monkeypatch: pytest.MonkeyPatch
) -> None:
    control = InprocControl("sequencer", role, ChainClock())
    role.commit(b"block-1")
    target = snapshot_dir(role, 1)
    assert (await control.quiesce_snapshot([str(target), {"hold": True}]))["held"] is True
    assert role.held
    assert await control.resume([]) == {"held": False} and not role.held
    assert (await control.revert_to([str(target), {"hold": True}]))["held"] and role.held and role.loops
    assert await control.resume([]) == {"held": False} and not role.held
    assert await control.resume([]) == {"held": False}  # idempotent
    monkeypatch.setattr(inproc_control, "HOLD_LEASE_S", 0.05)
    assert await control.quiesce([]) == {"held": True} and role.held
    await asyncio.sleep(0.2)
    assert not role.held  # nobody resumed it: the lease ended the hold


async def test_a_call_while_another_runs_is_refused(role: StoreRole) -> None:
    control = InprocControl("sequencer", role, ChainClock())
    role.commit(b"block-1")
    target = snapshot_dir(role, 1)
    await control.quiesce_snapshot([str(target)])
    role.slow_reopen = asyncio.Event()
    revert = asyncio.ensure_future(control.revert_to([str(target)]))
    await asyncio.sleep(0.2)
    assert not revert.done()
    with pytest.raises(ControlRefused, match="devnet_revertTo is in progress"):
        await control.quiesce_snapshot([str(snapshot_dir(role, 2))])
    with pytest.raises(ControlRefused, match="in progress"):
        await control.revert_to([str(target)])
    role.slow_reopen.set()
    assert (await revert)["dir"] == str(target)
    assert role.head == b"block-1"


async def test_a_role_that_cannot_reopen_is_failed_so_the_devnet_restarts_it(role: StoreRole) -> None:
    control = InprocControl("sequencer", role, ChainClock())
    role.commit(b"block-1")
    target = snapshot_dir(role, 1)
    await control.quiesce_snapshot([str(target)])
    role.broken = True
    with pytest.raises(ControlRefused, match="could not reopen"):
        await control.revert_to([str(target)])
    assert isinstance(role.failed, RuntimeError)
    assert (role.data_dir / "journal").read_text() == "block-1"  # the swap happened: a restart opens the copy


async def call(server: RpcServer, method: str, *params: Any) -> dict[str, Any]:
    reply = await server.dispatch(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}))
    assert reply is not None
    return dict(json.loads(reply))


async def test_the_methods_are_refused_by_a_process_not_in_devnet_mode(role: StoreRole) -> None:
    server = RpcServer("sequencer")
    register_inproc(server, "sequencer", enabled=False, target=role)
    role.commit(b"block-1")
    for method, params in (
        ("devnet_quiesce", []),
        ("devnet_resume", []),
        ("devnet_quiesceSnapshot", [str(snapshot_dir(role, 1))]),
        ("devnet_revertTo", [str(snapshot_dir(role, 1))]),
        ("devnet_revertTo", ["/etc"]),
    ):
        reply = await call(server, method, *params)
        assert reply["error"]["code"] == -32008 and "not started as part of a devnet" in reply["error"]["message"]
    assert not snapshot_dir(role, 1).exists() and role.kv.get(KEY) == b"block-1" and not role.held


@pytest.mark.parametrize(
    ("method", "params", "why"),
    [
        ("devnet_revertTo", ["/etc"], "inside this devnet's snapshots directory"),
        ("devnet_revertTo", ["{root}/snapshots/s1-0000abcd/../../data/sequencer"], r"'\.\.'"),
        ("devnet_revertTo", [], "expects"),
        ("devnet_revertTo", ["{root}/snapshots/s1-0000abcd/sequencer", {"hold": "yes"}], "true or false"),
        ("devnet_revertTo", ["{root}/snapshots/s1-0000abcd/sequencer", {"later": True}], "unknown option"),
        ("devnet_revertTo", ["{root}/snapshots/s1-0000abcd/sequencer", {"undo": 1}], "true or false"),
        ("devnet_revertTo", ["{root}/snapshots/s1-0000abcd/sequencer", "undo"], "must be an object"),
        ("devnet_revertTo", ["{root}/snapshots/s1-0000abcd/sequencer", [1]], "must be an object"),
        ("devnet_quiesceSnapshot", ["{root}/snapshots/s1-0000abcd/sequencer"], "already exists"),
        ("devnet_quiesceSnapshot", [7], "non-empty path string"),
        ("devnet_quiesce", [1], "expects"),
    ],
)
async def test_bad_params_are_invalid_params_and_change_nothing(
    role: StoreRole, method: str, params: list[Any], why: str
) -> None:
    server = RpcServer("sequencer")
    register_inproc(server, "sequencer", enabled=True, target=role)
    role.commit(b"block-1")
    await InprocControl("sequencer", role, ChainClock()).quiesce_snapshot([str(snapshot_dir(role, 1))])
    role.commit(b"block-2")
    root = str(role.data_dir.parent.parent)
    params = [p.replace("{root}", root) if isinstance(p, str) else p for p in params]
    reply = await call(server, method, *params)
    assert reply["error"]["code"] == InvalidParams.CODE == -32602, reply
    assert re.search(why, reply["error"]["message"]), reply
    assert role.kv.get(KEY) == b"block-2" and not role.held and role.loops


async def test_roles_registering_through_register_control_are_gated_and_list_the_methods(role: StoreRole) -> None:
    """The L1, executor, settler and challenger pass the handlers to node.rpc.control.register_control."""
    for enabled in (False, True):
        server = RpcServer("l1")
        register_control(server, "l1", enabled=enabled, handlers=inproc_handlers("l1", role))
        info = (await call(server, "devnet_info"))["result"]
        assert set(METHODS) <= set(info["methods"]) and info["devnet"] is enabled
        reply = await call(server, "devnet_revertTo", "/etc")
        assert reply["error"]["code"] == (-32602 if enabled else -32008)
