"""A ChainStore killed with SIGKILL mid-run reopens at exactly a committed block.

tests/support/crash_writer.py runs as a real subprocess, sealing blocks of a few
hundred signed transfers and printing `COMMITTED <number> <root>` after each
`seal_block` returns. Each round waits for K (random, 3..15) commits, kills
the writer at a random moment, reopens the database here and checks:

- the head is the last printed block or the one after it (committed, not yet printed),
  with the printed state root;
- the tree's root for the head version is the head's state root, and the blocks
  0..head are stored, linked, and nothing past the head is;
- every state entry is accounted for: known accounts (flat table == tree walk),
  the supply and withdrawal records; sum of balances == supply ==
  genesis + deposits - withdrawals;
- a fresh Chain on the reopened store seals another block on top.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from node.chain import Chain
from node.smt.hashing import hash_key
from node.smt.nodes import VALUE_PREFIX
from node.state.schema import (
    SUPPLY_KEY,
    account_key,
    decode_account,
    decode_supply,
    decode_withdrawal,
    get_account,
    get_supply,
)
from node.stf import recover_transaction
from node.store.chain import ChainStore
from node.tx import Transfer, sign_tx
from tests.support import crash_writer as cw

WRITER = Path(cw.__file__)
ROUNDS = 5
COMMIT_WAIT_S = 60.0


def _pump(stream, lines: queue.Queue[str | None]) -> None:  # type: ignore[no-untyped-def]
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


def _parse(line: str) -> tuple[int, str] | None:
    if not line.endswith("\n"):
        return None  # a line cut by the kill (cannot happen for one small pipe write, but be strict)
    parts = line.split()
    assert parts[0] == "COMMITTED", f"unexpected writer output: {line!r}"
    return int(parts[1]), parts[2]


def _run_and_kill(db: Path, seed: int, k: int, delay_s: float, stderr_path: Path) -> dict[int, str]:
    """Start the writer, wait for k commits, sleep `delay_s`, SIGKILL; return printed commits."""
    printed: dict[int, str] = {}
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(db), str(seed)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            bufsize=1,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + COMMIT_WAIT_S
            while len(printed) < k:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                if line is None:
                    raise AssertionError(f"writer exited early (rc={proc.wait()}): {stderr_path.read_text()}")
                parsed = _parse(line)
                if parsed:
                    printed[parsed[0]] = parsed[1]
            time.sleep(delay_s)
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            reader.join(timeout=10)
            proc.stdout.close()  # type: ignore[union-attr]
    while (line := lines.get_nowait() if not lines.empty() else None) is not None:  # printed before the kill
        parsed = _parse(line)
        if parsed:
            printed[parsed[0]] = parsed[1]
    return printed


def _check_reopened(db: Path, printed: dict[int, str]) -> None:
    last = max(printed)
    assert sorted(printed) == list(range(1, last + 1))
    store, chain = cw.open_chain(db)  # init_genesis again: idempotent on the existing genesis
    try:
        head = store.head()
        assert head is not None
        assert head.number in (last, last + 1), (head.number, last)
        if head.number in printed:
            assert head.state_root.hex() == printed[head.number]
        # the tree's root for the head version, and the block chain up to the head
        assert store.tree.root_hash(head.number) == head.state_root
        assert store.get_block(head.number + 1) is None
        assert not store.tree.has_version(head.number + 1)
        parent = None
        for n in range(head.number + 1):
            block = store.get_block(n)
            assert block is not None and block.number == n
            assert store.get_block_number(block.hash()) == n
            if parent is not None:
                assert block.header.parent_hash == parent.hash()
            if n in printed:
                assert block.header.state_root.hex() == printed[n]
            if n > 0:
                assert len(store.get_receipts(n)) == len(block.transactions) == cw.TXS_PER_BLOCK + 1
            parent = block
        assert parent is not None and parent.hash() == head.hash
        assert parent.header.state_root == head.state_root

        # every state entry: the flat table of the latest version, checked against a walk of the head root
        account_hashes = {hash_key(account_key(a)): a for a in cw.ALL_ADDRESSES}
        supply_hash = hash_key(SUPPLY_KEY)
        balances = 0
        withdrawn = 0
        supply = None
        withdrawals = 0
        for key, value in store.kv.scan(VALUE_PREFIX, VALUE_PREFIX + b"\xff" * 33):
            key_hash = key[1:]
            assert store.tree.get(key_hash, head.number) == value  # flat table == tree at the head
            if key_hash in account_hashes:
                balances += decode_account(value).balance
            elif key_hash == supply_hash:
                supply = decode_supply(value)
            else:
                record = decode_withdrawal(value)  # anything else must be a withdrawal record
                assert record.l1_recipient == cw.L1_RECIPIENT and 1 <= record.l2_block_number <= head.number
                withdrawn += record.amount
                withdrawals += 1
        assert withdrawals == head.number  # one withdrawal per block
        state = store.latest_state()
        assert supply == get_supply(state) == balances
        assert supply == cw.GENESIS_SUPPLY + cw.DEPOSIT_AMOUNT * head.number - withdrawn
        assert sum(get_account(state, a).balance for a in cw.ALL_ADDRESSES) == supply
        nonces = {get_account(state, a).nonce for a in cw.SENDERS}
        assert nonces == {head.number}

        # a fresh Chain on the reopened store seals on top
        chain = Chain(store, cw.CONFIG)
        sender = cw.SENDER_KEYS[0]
        raw = sign_tx(
            sender, cw.CHAIN_ID, get_account(state, sender.address).nonce, cw.FEE, Transfer(cw.RECIPIENTS[0], 5)
        ).encode()
        sealed, build = chain.seal_block([recover_transaction(raw)], 10**9, (head.number + 1, bytes(32)))
        assert not build.rejected and len(build.included) == 1
        assert sealed.head.number == head.number + 1
        assert sealed.block.header.parent_hash == head.hash
        assert store.tree.root_hash(head.number + 1) == sealed.head.state_root
        assert get_supply(store.latest_state()) == supply
    finally:
        store.close()
    # and that block is durable too
    reopened = ChainStore(db)
    try:
        assert reopened.head() == sealed.head
    finally:
        reopened.close()


def test_sigkill_at_random_moments_reopens_at_a_committed_block(tmp_path: Path) -> None:
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    for round_no in range(ROUNDS):
        k = rng.randint(3, 15)
        # from "right after a print" to "a couple of blocks later" (a block takes ~40 ms)
        delay_s = [0.0, rng.uniform(0, 0.01), rng.uniform(0, 0.05), rng.uniform(0.02, 0.1), rng.uniform(0, 0.1)][
            round_no
        ]
        db = tmp_path / f"round{round_no}"
        printed = _run_and_kill(db, rng.randrange(2**32), k, delay_s, tmp_path / f"round{round_no}.stderr")
        assert len(printed) >= k
        _check_reopened(db, printed)
