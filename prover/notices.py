"""Dispute notices: a challenger's signed "I dispute output N" on gossip, so its allies hold back at once (pure).

Topic `/rollup/<chain>/disputes/1` (content-derived message ids, node.p2p.msgid).

    message = pack([chain_id, output_index, output_root(32), tx_hash(32), signer(20), signature(65)])
    hash    = keccak256(NOTICE_DOMAIN || uint64_be(chain_id) || uint64_be(output_index) || output_root || tx_hash)

signed (secp256k1, r || s || v) with the challenger's L1 key, so `signer` is
the address that appears as the challenger in the output's L1 games and in
its allies' `[challenger] allies`. `tx_hash` is its dispute transaction.

Validation on receipt (reason labels, `dispute_notices_rejected_total{reason}`):
`too_large` (> 256 bytes), `malformed` (not the canonical encoding),
`wrong_chain`, `bad_signature` (does not recover `signer`). Any signer passes
validation and is relayed; only the receiver's allies' notices are used
(prover.allies), others are dropped after validation. A notice never makes
anyone dispute or hold back for long: it only extends an ally's hold for
`ally_stagger_blocks` * 2 L1 blocks from its arrival (its dispute should land
on L1 by then), never past the backstop before the window closes.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.crypto import Address, CryptoError, Hash32, PrivateKey, keccak256, recover_address
from node.encoding import DecodeError, expect_bytes, expect_int, expect_list, pack, unpack
from node.gossip import GossipRejected

NOTICE_DOMAIN = b"\x19rollup-devnet dispute notice v1\x00"
MAX_NOTICE_BYTES = 256  # an encoded notice is at most 170 bytes
REJECT_REASONS = ("too_large", "malformed", "wrong_chain", "bad_signature")


def notice_topic(chain_id: int) -> str:
    return f"/rollup/{chain_id}/disputes/1"


class NoticeRejected(GossipRejected):
    """A dispute notice failed validation; `reason` is its metrics label."""


@dataclass(frozen=True, slots=True)
class DisputeNotice:
    chain_id: int
    output_index: int
    output_root: bytes
    tx_hash: bytes
    signer: Address
    signature: bytes

    def encode(self) -> bytes:
        return pack([self.chain_id, self.output_index, self.output_root, self.tx_hash, self.signer, self.signature])

    def signing_hash(self) -> Hash32:
        return compute_notice_hash(self.chain_id, self.output_index, self.output_root, self.tx_hash)


def compute_notice_hash(chain_id: int, output_index: int, output_root: bytes, tx_hash: bytes) -> Hash32:
    body = chain_id.to_bytes(8, "big") + output_index.to_bytes(8, "big") + output_root + tx_hash
    return Hash32(keccak256(NOTICE_DOMAIN + body))


def sign_notice(key: PrivateKey, chain_id: int, output_index: int, output_root: bytes, tx_hash: bytes) -> DisputeNotice:
    if len(output_root) != 32 or len(tx_hash) != 32:
        raise ValueError("output root and transaction hash must be 32 bytes each")
    signature = key.sign_hash(compute_notice_hash(chain_id, output_index, output_root, tx_hash))
    return DisputeNotice(chain_id, output_index, bytes(output_root), bytes(tx_hash), key.address, signature)


def decode_notice(data: bytes) -> DisputeNotice:
    """Decode the canonical encoding; raises DecodeError."""
    fields = expect_list(unpack(data, MAX_NOTICE_BYTES), 6, "dispute notice")
    notice = DisputeNotice(
        chain_id=expect_int(fields[0], "chain_id"),
        output_index=expect_int(fields[1], "output_index"),
        output_root=expect_bytes(fields[2], "output_root", 32),
        tx_hash=expect_bytes(fields[3], "tx_hash", 32),
        signer=Address(expect_bytes(fields[4], "signer", 20)),
        signature=expect_bytes(fields[5], "signature", 65),
    )
    if notice.encode() != data:
        raise DecodeError("dispute notice is not canonically encoded")
    return notice


def validate_notice(data: bytes, chain_id: int) -> DisputeNotice:
    """The decoded notice, or NoticeRejected."""
    if len(data) > MAX_NOTICE_BYTES:
        raise NoticeRejected("too_large", f"{len(data)} bytes, limit {MAX_NOTICE_BYTES}")
    try:
        notice = decode_notice(data)
    except DecodeError as exc:
        raise NoticeRejected("malformed", str(exc)) from None
    if notice.chain_id != chain_id:
        raise NoticeRejected("wrong_chain", f"chain {notice.chain_id}, expected {chain_id}")
    try:
        recovered = recover_address(notice.signing_hash(), notice.signature)
    except CryptoError as exc:
        raise NoticeRejected("bad_signature", str(exc)) from None
    if recovered != notice.signer:
        raise NoticeRejected("bad_signature", f"signature recovers 0x{recovered.hex()}, not 0x{notice.signer.hex()}")
    return notice
