"""Block gossip and range sync messages (pure: encoding, signing, validation).

The sequencer signs every block it gossips:

    message   = pack([chain_id, block_fields, signature(65)])
    signature = secp256k1 over keccak256(GOSSIP_DOMAIN || chain_id(8) || block_hash)

Executors validate a message before it is relayed (a gossipsub topic
validator): it must decode canonically, be for this chain, be signed by the
configured sequencer, be within the size limit, and have a timestamp neither
too far in the past nor in the future. Range sync asks a peer for blocks by
number: request pack([first, count]), response pack([status, [message, ...]])
where each entry is a signed block message as above.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.block import MAX_BLOCK_BYTES, Block
from node.crypto import Address, CryptoError, Hash32, PrivateKey, keccak256, recover_address
from node.encoding import DecodeError, expect_bytes, expect_int, expect_list, pack, unpack

GOSSIP_DOMAIN = b"\x19rollup-devnet block gossip v1\x00"
MAX_GOSSIP_BYTES = 4 * 1024 * 1024
RANGE_SYNC_PROTOCOL = "/rollup/blocks-by-range/1"
MAX_RANGE_COUNT = 64
MAX_RANGE_RESPONSE_BYTES = 16 * 1024 * 1024
STATUS_OK = 0
STATUS_ERROR = 1


def block_topic(chain_id: int) -> str:
    return f"/rollup/{chain_id}/blocks/1"


class GossipRejected(ValueError):
    """A gossip message failed validation; `reason` is a short label for metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SignedBlock:
    chain_id: int
    block: Block
    signature: bytes

    def encode(self) -> bytes:
        return pack([self.chain_id, self.block.to_fields(), self.signature])

    def signer(self) -> Address:
        return recover_address(compute_gossip_hash(self.chain_id, self.block.hash()), self.signature)


def compute_gossip_hash(chain_id: int, block_hash: bytes) -> Hash32:
    return Hash32(keccak256(GOSSIP_DOMAIN + chain_id.to_bytes(8, "big") + block_hash))


def sign_block(key: PrivateKey, chain_id: int, block: Block) -> SignedBlock:
    return SignedBlock(chain_id, block, key.sign_hash(compute_gossip_hash(chain_id, block.hash())))


def decode_signed_block(data: bytes, max_size: int = MAX_GOSSIP_BYTES) -> SignedBlock:
    fields = expect_list(unpack(data, max_size), 3, "signed block")
    return SignedBlock(
        chain_id=expect_int(fields[0], "chain_id"),
        block=Block.from_fields(fields[1]),
        signature=expect_bytes(fields[2], "signature", 65),
    )


@dataclass(frozen=True, slots=True)
class GossipRules:
    chain_id: int
    sequencer: Address
    max_bytes: int = MAX_GOSSIP_BYTES
    max_past_ms: int = 10 * 60 * 1000  # older blocks come through range sync and L1, not gossip
    max_future_ms: int = 5_000


def validate_gossip(data: bytes, rules: GossipRules, now_ms: int) -> SignedBlock:
    """Return the decoded block, or raise GossipRejected with the reason."""
    if len(data) > rules.max_bytes:
        raise GossipRejected("too_large", f"{len(data)} bytes, limit {rules.max_bytes}")
    try:
        signed = decode_signed_block(data, rules.max_bytes)
    except DecodeError as exc:
        raise GossipRejected("malformed", str(exc)) from None
    if signed.chain_id != rules.chain_id:
        raise GossipRejected("wrong_chain", f"chain {signed.chain_id}, expected {rules.chain_id}")
    try:
        signer = signed.signer()
    except CryptoError as exc:
        raise GossipRejected("bad_signature", str(exc)) from None
    if signer != rules.sequencer:
        raise GossipRejected("bad_signature", f"signed by 0x{signer.hex()}, not the sequencer")
    timestamp = signed.block.header.timestamp_ms
    if timestamp > now_ms + rules.max_future_ms:
        raise GossipRejected("future", f"timestamp {timestamp} is {timestamp - now_ms} ms ahead")
    if timestamp < now_ms - rules.max_past_ms:
        raise GossipRejected("stale", f"timestamp {timestamp} is {now_ms - timestamp} ms old")
    return signed


# -- range sync ------------------------------------------------------------------------------


def encode_range_request(first: int, count: int) -> bytes:
    return pack([first, count])


def decode_range_request(data: bytes) -> tuple[int, int]:
    fields = expect_list(unpack(data, 64), 2, "range request")
    first = expect_int(fields[0], "first")
    count = expect_int(fields[1], "count")
    if not 1 <= count <= MAX_RANGE_COUNT:
        raise DecodeError(f"range count {count} is outside [1, {MAX_RANGE_COUNT}]")
    return first, count


def encode_range_response(messages: list[bytes]) -> bytes:
    return pack([STATUS_OK, messages])


def encode_range_error(message: str) -> bytes:
    return pack([STATUS_ERROR, message])


def decode_range_response(data: bytes) -> list[bytes]:
    fields = expect_list(unpack(data, MAX_RANGE_RESPONSE_BYTES), 2, "range response")
    status = expect_int(fields[0], "status")
    if status != STATUS_OK:
        raise DecodeError(f"peer answered the range request with an error: {fields[1]!r}")
    items = expect_list(fields[1], None, "range response blocks")
    if len(items) > MAX_RANGE_COUNT:
        raise DecodeError(f"range response has {len(items)} blocks, limit {MAX_RANGE_COUNT}")
    return [expect_bytes(item, "signed block", max_length=MAX_BLOCK_BYTES) for item in items]
