"""Deterministic identities and multiaddr helpers."""

from __future__ import annotations

import pytest

from node.p2p.errors import IdentityError, MultiaddrError
from node.p2p.identity import (
    PeerAddr,
    derive_seed,
    key_pair_from_seed,
    make_multiaddr,
    parse_multiaddr,
    peer_id_from_seed,
)


def test_same_seed_gives_same_peer_id_and_libp2p_agrees() -> None:
    from libp2p.peer.id import ID

    seed = derive_seed("sequencer-0")
    assert peer_id_from_seed(seed) == peer_id_from_seed(bytes(seed))
    assert peer_id_from_seed(seed).startswith("12D3KooW")
    assert peer_id_from_seed(seed) != peer_id_from_seed(derive_seed("executor-1"))
    for label in ("a", "b", "sequencer-0"):
        s = derive_seed(label)
        assert ID.from_pubkey(key_pair_from_seed(s).public_key).to_base58() == peer_id_from_seed(s)


@pytest.mark.parametrize("seed", [b"", b"x" * 31, b"x" * 33])
def test_seed_must_be_32_bytes(seed: bytes) -> None:
    with pytest.raises(IdentityError, match="32 bytes"):
        peer_id_from_seed(seed)


def test_multiaddr_round_trip() -> None:
    peer_id = peer_id_from_seed(derive_seed("n1"))
    addr = make_multiaddr(9001, peer_id)
    assert addr == f"/ip4/127.0.0.1/tcp/9001/p2p/{peer_id}"
    assert parse_multiaddr(addr) == PeerAddr("127.0.0.1", 9001, peer_id)
    assert str(parse_multiaddr(addr)) == addr


@pytest.mark.parametrize(
    "addr, message",
    [
        ("/dns4/localhost/tcp/9001/p2p/{pid}", "dns4"),
        ("/ip4/127.0.0.1/tcp/0/p2p/{pid}", "port"),
        ("/ip4/127.0.0.1/tcp/70000/p2p/{pid}", "port"),
        ("/ip4/300.0.0.1/tcp/9001/p2p/{pid}", "IPv4"),
        ("/ip4/127.0.0.1/tcp/9001", "expected"),
        ("/ip4/127.0.0.1/tcp/9001/p2p/not-base58!", "base58"),
    ],
)
def test_bad_multiaddrs_are_rejected_clearly(addr: str, message: str) -> None:
    peer_id = peer_id_from_seed(derive_seed("n1"))
    with pytest.raises(MultiaddrError, match=message):
        parse_multiaddr(addr.format(pid=peer_id))
