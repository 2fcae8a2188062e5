"""Sender recovery in a process pool groups submissions as a group commit does (sequencer.intake.Recoverer):
the same senders and errors as in-process recovery, no timer for a lone submission, and the
submissions made while a group is in the pool go together as the next group."""

from __future__ import annotations

import asyncio

import pytest

from node.crypto import PrivateKey
from node.stf.errors import BadSignature
from node.tx import RecoveredTx, Transfer, sign_tx
from sequencer.intake import Recoverer

CHAIN_ID = 901
KEYS = [PrivateKey(bytes([i + 1]) * 32) for i in range(4)]


def raw_transfer(i: int) -> bytes:
    key = KEYS[i % len(KEYS)]
    return sign_tx(key, CHAIN_ID, i, 1000, Transfer(KEYS[(i + 1) % len(KEYS)].address, 1)).encode()


@pytest.fixture
def pooled() -> Recoverer:  # type: ignore[misc]
    recoverer = Recoverer(workers=1)
    yield recoverer
    recoverer.close()


async def test_a_lone_submission_is_recovered_in_a_group_of_its_own(pooled: Recoverer) -> None:
    rtx = await asyncio.wait_for(pooled.recover(raw_transfer(0)), 60)
    assert rtx.sender == KEYS[0].address and pooled.groups == 1


async def test_submissions_of_one_loop_turn_form_one_group_with_the_right_senders(pooled: Recoverer) -> None:
    raws = [raw_transfer(i) for i in range(40)]
    rtxs = await asyncio.wait_for(asyncio.gather(*(pooled.recover(raw) for raw in raws)), 60)
    assert [r.sender for r in rtxs] == [KEYS[i % len(KEYS)].address for i in range(40)]
    assert [r.raw for r in rtxs] == raws
    assert pooled.groups == 1


async def test_submissions_made_while_a_group_is_in_the_pool_go_together_next(pooled: Recoverer) -> None:
    first = asyncio.ensure_future(pooled.recover(raw_transfer(0)))
    await asyncio.sleep(0)  # the first group leaves
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(pooled.recover(raw_transfer(i))) for i in range(1, 11)]
    for _ in range(3):
        await asyncio.sleep(0)  # turns pass; the group in the pool has not returned yet
    await asyncio.wait_for(asyncio.gather(first, *later), 60)
    assert pooled.groups == 2
    assert [f.result().sender for f in later] == [KEYS[i % len(KEYS)].address for i in range(1, 11)]


async def test_a_bad_signature_gets_the_precise_error_and_the_others_still_recover(pooled: Recoverer) -> None:
    good = raw_transfer(1)
    bad = raw_transfer(2)[:-65] + bytes(65)  # an all-zero signature
    results = await asyncio.wait_for(
        asyncio.gather(pooled.recover(good), pooled.recover(bad), return_exceptions=True), 60
    )
    assert isinstance(results[0], RecoveredTx) and results[0].sender == KEYS[1].address
    assert isinstance(results[1], BadSignature) and results[1].rpc_code == -32010
