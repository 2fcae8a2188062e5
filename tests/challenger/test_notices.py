"""Dispute notices (prover.notices, prover.notice_net): encoding and validation, their effect on an ally's
decision, and the topic between real in-process p2p nodes (an ally's notice kept, a non-ally's dropped,
invalid ones rejected with a reason and their sender dropped, the receiver still working)."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest

from node.crypto import PrivateKey
from node.p2p import P2PNode
from node.rpc.metrics import Metrics
from prover.allies import AllyPolicy, HoldBack, Join, decide_join
from prover.games import OutputView
from prover.notice_net import NoticeBoard
from prover.notices import (
    MAX_NOTICE_BYTES,
    NoticeRejected,
    decode_notice,
    notice_topic,
    sign_notice,
    validate_notice,
)
from tests.support.inproc_p2p import eventually, started
from tests.support.inproc_p2p import p2p_config as p2p

CHAIN = 901
KEY_A, KEY_B, KEY_X = (PrivateKey(bytes([i]) * 32) for i in (0x0A, 0x0B, 0x0C))
A, B, X = (bytes(k.address) for k in (KEY_A, KEY_B, KEY_X))
ROOT, TX = b"\x42" * 32, b"\x77" * 32


def test_a_notice_round_trips_and_recovers_its_signer() -> None:
    notice = sign_notice(KEY_A, CHAIN, 7, ROOT, TX)
    data = notice.encode()
    assert len(data) <= 170 and decode_notice(data) == notice
    assert validate_notice(data, CHAIN) == notice and bytes(notice.signer) == A


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00" * (MAX_NOTICE_BYTES + 1), "too_large"),
        (b"\x93garbage", "malformed"),
        (sign_notice(KEY_A, CHAIN, 7, ROOT, TX).encode()[:-1], "malformed"),
        (sign_notice(KEY_A, CHAIN + 1, 7, ROOT, TX).encode(), "wrong_chain"),
        (replace(sign_notice(KEY_A, CHAIN, 7, ROOT, TX), output_index=8).encode(), "bad_signature"),
        (replace(sign_notice(KEY_A, CHAIN, 7, ROOT, TX), signer=KEY_B.address).encode(), "bad_signature"),
        (replace(sign_notice(KEY_A, CHAIN, 7, ROOT, TX), signature=b"\x00" * 65).encode(), "bad_signature"),
    ],
)
def test_invalid_notices_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(NoticeRejected) as info:
        validate_notice(data, CHAIN)
    assert info.value.reason == reason


def test_sign_refuses_short_fields() -> None:
    with pytest.raises(ValueError):
        sign_notice(KEY_A, CHAIN, 7, b"\x01", TX)


# -- effect on the decision (prover.allies) --

OUTPUT = OutputView(3, 30, ROOT, b"\x09" * 20, 10, 100, 140, "pending")
POLICY = AllyPolicy(frozenset({A}), backstop_blocks=4, stagger_blocks=2)


def decide(head: int, announced: dict[bytes, int], policy: AllyPolicy = POLICY) -> Join | HoldBack:
    return decide_join(OUTPUT, [], head, B, policy, 101, lambda g: True, announced)


def test_an_allys_notice_holds_us_back_for_a_while_only() -> None:
    held = decide(101, {A: 101})
    assert isinstance(held, HoldBack) and "announced" in held.reason and held.until == 105
    after = decide(105, {A: 101})  # its dispute should have landed by now: the rank rule again
    assert not (isinstance(after, HoldBack) and "announced" in after.reason)
    stranger = decide(101, {X: 101})  # a non-ally's notice counts for nothing
    assert not (isinstance(stranger, HoldBack) and "announced" in stranger.reason)
    assert isinstance(decide(101, {A: 101}, AllyPolicy()), Join)  # no allies: notices are irrelevant
    late = replace(OUTPUT, finalizes_at=104)
    capped = decide_join(late, [], 99, B, POLICY, 99, lambda g: True, {A: 99})
    assert isinstance(capped, HoldBack) and capped.until == 100  # never past the backstop


# -- the topic between real nodes --


def board(node: P2PNode, key: PrivateKey, allies: frozenset[bytes], head: int = 50) -> NoticeBoard:
    return NoticeBoard(node, CHAIN, key, allies, lambda: head, Metrics())


async def test_an_allys_notice_is_kept_and_a_strangers_dropped() -> None:
    async with started(p2p("notice-b")) as (b,):
        async with started(p2p("notice-a", bootstrap=(b.listen_addr,))) as (a,):
            board_b, board_a = board(b, KEY_B, frozenset({A})), board(a, KEY_A, frozenset({B}))
            await board_b.start()
            await board_a.start()
            await a.wait_for_topic_peers(board_a.topic, 1, timeout=20)
            await board_a.announce(3, ROOT, TX)
            await eventually(lambda: board_b.announced(3, ROOT) == {A: 50})
            assert board_b.announced(3, b"\x43" * 32) == {}  # another root: another output's
            await a.publish(board_a.topic, sign_notice(KEY_X, CHAIN, 4, ROOT, TX).encode())  # valid, not an ally
            await eventually(lambda: board_b.m_received.value(outcome="not_ally") == 1)
            assert board_b.announced(4, ROOT) == {}
            assert board_a.m_published.value() == 1


async def test_invalid_notices_are_rejected_and_their_sender_dropped() -> None:
    async with started(p2p("notice-recv", invalid_limit=3)) as (recv,):
        async with started(p2p("notice-spam", bootstrap=(recv.listen_addr,))) as (spam,):
            net = board(recv, KEY_B, frozenset({A}))
            await net.start()
            topic = notice_topic(CHAIN)
            await spam.subscribe(topic, _ignore)
            await spam.wait_for_topic_peers(topic, 1, timeout=20)
            for data in (
                b"\x93garbage",
                sign_notice(KEY_A, CHAIN + 1, 3, ROOT, TX).encode(),
                replace(sign_notice(KEY_A, CHAIN, 3, ROOT, TX), output_index=9).encode(),
            ):
                with contextlib.suppress(Exception):
                    await spam.publish(topic, data)
            await eventually(lambda: spam.peer_id not in recv.peers())
            for reason in ("malformed", "wrong_chain", "bad_signature"):
                assert net.m_rejected.value(reason=reason) == 1, reason
            assert net.announced(3, ROOT) == {} and net.announced(9, ROOT) == {}
            # the receiver keeps working: a fresh ally still gets through
            async with started(p2p("notice-ally", bootstrap=(recv.listen_addr,))) as (ally,):
                ally_board = board(ally, KEY_A, frozenset({B}))
                await ally_board.start()
                await ally.wait_for_topic_peers(topic, 1, timeout=20)
                await ally_board.announce(5, ROOT, TX)
                await eventually(lambda: net.announced(5, ROOT) == {A: 50})


async def _ignore(data: bytes, peer: str) -> None:
    return None
