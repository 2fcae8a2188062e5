"""Deterministic node identities and loopback multiaddrs.

A node's libp2p identity is an ed25519 key whose 32-byte private seed comes
from config, so devnet configs can list every bootstrap multiaddr
(`/ip4/127.0.0.1/tcp/PORT/p2p/PEERID`) before any node starts.

`peer_id_from_seed` is computed here without importing libp2p (slow to
import) and matches `libp2p.peer.id.ID.from_pubkey` (tested): the protobuf
`PublicKey{Type: Ed25519, Data: pk}` is 36 bytes, so the peer id is its
identity multihash, base58btc-encoded (`12D3KooW...`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import base58
from nacl.signing import SigningKey

from node.p2p.errors import IdentityError, MultiaddrError

if TYPE_CHECKING:
    from libp2p.crypto.keys import KeyPair

SEED_LEN = 32
_ED25519_KEY_TYPE = 1  # libp2p crypto.pb KeyType.Ed25519
_IDENTITY_MULTIHASH = 0x00


def validate_seed(seed: bytes) -> bytes:
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_LEN:
        got = len(seed) if isinstance(seed, (bytes, bytearray)) else type(seed).__name__
        raise IdentityError(f"node seed must be exactly {SEED_LEN} bytes, got {got}")
    return bytes(seed)


def derive_seed(label: str) -> bytes:
    """A seed from a human label (`sha256(label)`), for devnet configs and tests."""
    return hashlib.sha256(label.encode()).digest()


def random_seed() -> bytes:
    return os.urandom(SEED_LEN)


def peer_id_from_seed(seed: bytes) -> str:
    """The base58 peer id of the ed25519 key with this seed (no libp2p import)."""
    public_key = bytes(SigningKey(validate_seed(seed)).verify_key)
    serialized = bytes([0x08, _ED25519_KEY_TYPE, 0x12, len(public_key)]) + public_key
    multihash = bytes([_IDENTITY_MULTIHASH, len(serialized)]) + serialized
    return base58.b58encode(multihash).decode()


def key_pair_from_seed(seed: bytes) -> KeyPair:
    """The libp2p `KeyPair` for this seed (imports libp2p)."""
    from libp2p.identity_utils import create_identity_from_seed

    try:
        return create_identity_from_seed(validate_seed(seed))
    except ValueError as exc:
        raise IdentityError(f"seed does not give a usable ed25519 key: {exc}") from exc


@dataclass(frozen=True, slots=True)
class PeerAddr:
    """A dialable peer: IPv4 host, TCP port and peer id."""

    host: str
    port: int
    peer_id: str

    def __str__(self) -> str:
        return make_multiaddr(self.port, self.peer_id, self.host)


def make_multiaddr(port: int, peer_id: str, host: str = "127.0.0.1") -> str:
    """`/ip4/HOST/tcp/PORT/p2p/PEERID`."""
    _check_host(host, host)
    if not 0 < port < 65536:
        raise MultiaddrError(f"port {port} out of range 1..65535")
    _check_peer_id(peer_id, peer_id)
    return f"/ip4/{host}/tcp/{port}/p2p/{peer_id}"


def parse_multiaddr(addr: str) -> PeerAddr:
    """Parse `/ip4/A.B.C.D/tcp/PORT/p2p/PEERID`; anything else raises `MultiaddrError`."""
    parts = addr.strip().split("/")
    if len(parts) != 7 or parts[0] != "" or parts[1] != "ip4" or parts[3] != "tcp" or parts[5] not in ("p2p", "ipfs"):
        hint = " (/dns4 is not supported by py-libp2p 0.8.1: use /ip4/127.0.0.1)" if "/dns" in addr else ""
        raise MultiaddrError(f"unsupported multiaddr {addr!r}: expected /ip4/HOST/tcp/PORT/p2p/PEERID{hint}")
    host, port_text, peer_id = parts[2], parts[4], parts[6]
    _check_host(host, addr)
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise MultiaddrError(f"bad TCP port in multiaddr {addr!r}")
    _check_peer_id(peer_id, addr)
    return PeerAddr(host, int(port_text), peer_id)


def _check_host(host: str, context: str) -> None:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise MultiaddrError(f"bad IPv4 address in {context!r}") from None


def _check_peer_id(peer_id: str, context: str) -> None:
    try:
        raw = base58.b58decode(peer_id)
    except ValueError:
        raise MultiaddrError(f"peer id in {context!r} is not base58") from None
    if len(raw) < 2 or raw[1] != len(raw) - 2:
        raise MultiaddrError(f"peer id in {context!r} is not a multihash")
