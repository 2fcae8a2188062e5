"""The attestation topic between real in-process p2p nodes, and the [attestation] config loader."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from node.attestation import attestation_topic, sign_attestation
from node.attestation_net import AttestationNetwork, AttestationSection, attestations_report, load_attestation_section
from node.crypto import PrivateKey
from node.p2p import P2PNode
from node.rpc.metrics import Metrics
from node.service import ConfigError
from tests.support.inproc_p2p import eventually, started
from tests.support.inproc_p2p import p2p_config as config

CHAIN = 901
KEY_A = PrivateKey(b"\x0a" * 32)
KEY_B = PrivateKey(b"\x0b" * 32)
ROOT = b"\x42" * 32


def network(node: P2PNode, key: PrivateKey | None, attesters: frozenset[bytes] = frozenset()) -> AttestationNetwork:
    return AttestationNetwork(node, AttestationSection(key, 10, attesters), CHAIN, lambda: 100, Metrics())


async def test_two_attesters_see_each_other_and_the_report_splits_by_root() -> None:
    async with started(config("att-a")) as (a,):
        async with started(config("att-b", bootstrap=(a.listen_addr,))) as (b,):
            net_a, net_b = network(a, KEY_A), network(b, KEY_B)
            await net_a.start()
            await net_b.start()
            await a.wait_for_topic_peers(net_a.topic, 1, timeout=20)
            await b.wait_for_topic_peers(net_b.topic, 1, timeout=20)
            assert await net_a.attest(10, ROOT) is not None
            assert await net_a.attest(15, ROOT) is None  # not an output height: nothing signed
            await net_b.attest(10, b"\x43" * 32)
            await eventually(lambda: len(net_b.pool.at(10)) == 2 and len(net_a.pool.at(10)) == 2)
            report = attestations_report(net_b.pool, 10, ROOT)
            agrees = {item["signer"].lower(): item["agrees"] for item in report["attestations"]}
            assert agrees == {"0x" + KEY_A.address.hex(): True, "0x" + KEY_B.address.hex(): False}
            assert net_b.m_received.value(outcome="new") == 1
            assert net_a.m_published.value() == 1


async def test_invalid_attestations_are_rejected_with_a_reason_and_the_sender_is_dropped() -> None:
    async with started(config("att-recv", invalid_limit=3)) as (recv,):
        async with started(config("att-spam", bootstrap=(recv.listen_addr,))) as (spam,):
            net = network(recv, None, attesters=frozenset({bytes(KEY_A.address)}))
            await net.start()
            topic = attestation_topic(CHAIN)
            await spam.subscribe(topic, _ignore)
            await spam.wait_for_topic_peers(topic, 1, timeout=20)
            bad = [
                b"\x93garbage",
                sign_attestation(KEY_B, CHAIN, 10, ROOT).encode(),  # not a configured attester
                sign_attestation(KEY_A, CHAIN, 13, ROOT).encode(),  # not an output height
                sign_attestation(KEY_A, CHAIN + 1, 10, ROOT).encode(),
            ]
            for data in bad:
                with contextlib.suppress(Exception):
                    await spam.publish(topic, data)
            await eventually(lambda: sum(net.rejected().values()) >= 3)
            await eventually(lambda: spam.peer_id not in recv.peers())
            rejected = net.rejected()
            assert rejected["malformed"] == 1 and rejected["unknown_signer"] == 1
            assert rejected["not_output_height"] == 1
            assert net.pool.heights() == []


async def test_a_lagging_receiver_ignores_future_attestations_without_dropping_the_honest_sender() -> None:
    """Heights beyond our own head are ignored (our state, not the sender's fault): never a ban."""
    async with started(config("att-lag", invalid_limit=2)) as (recv,):
        async with started(config("att-ahead", bootstrap=(recv.listen_addr,))) as (ahead,):
            net = network(recv, None)  # its head is 100: max_ahead 256 puts block 1000 in the future
            await net.start()
            topic = attestation_topic(CHAIN)
            await ahead.subscribe(topic, _ignore)
            await ahead.wait_for_topic_peers(topic, 1, timeout=20)
            for height in range(1000, 1060, 10):  # six honest attestations the receiver cannot place yet
                await ahead.publish(topic, sign_attestation(KEY_A, CHAIN, height, ROOT).encode())
            await eventually(lambda: net.rejected()["future"] == 6)
            await asyncio.sleep(0.5)
            assert ahead.peer_id in recv.peers(), "an honest peer was dropped for being ahead of us"
            assert recv.metrics().ignored_received == 6 and recv.metrics().invalid_received == 0
            assert net.pool.heights() == []


async def _ignore(data: bytes, peer: str) -> None:
    return None


def test_config_section() -> None:
    assert load_attestation_section({}) is None
    section = load_attestation_section(
        {"attestation": {"key": "0x" + "11" * 32, "output_interval": 5, "attesters": ["0x" + "22" * 20]}}
    )
    assert section is not None and section.key is not None
    assert section.output_interval == 5 and section.attesters == frozenset({b"\x22" * 20})
    assert load_attestation_section({"attestation": {}}) == AttestationSection(None, 10, frozenset())


@pytest.mark.parametrize(
    "table",
    [
        "not a table",
        {"key": 5},
        {"key": "0x1234"},
        {"key": "0x" + "00" * 32},
        {"output_interval": 0},
        {"output_interval": True},
        {"attesters": "0x" + "22" * 20},
        {"attesters": ["0x1234"]},
        {"max_ahead": -1},
        {"colour": "blue"},
    ],
)
def test_config_section_rejects_bad_values(table: object) -> None:
    with pytest.raises(ConfigError):
        load_attestation_section({"attestation": table})
