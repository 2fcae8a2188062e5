"""Output attestations: a signed claim "at L2 block N the output root is R" (pure: encoding, signing, validation).

Executors (and, later, challengers) sign the output root they derived at each
output height and gossip it on `/rollup/<chain>/attestations/1`, so that a
challenger learns quickly when an L1 proposal contradicts what its trusted
peers computed.

    message = pack([chain_id, l2_block_number, output_root(32), signer(20), signature(65)])
    hash    = keccak256(ATTESTATION_DOMAIN || uint64_be(chain_id) || uint64_be(l2_block_number) || output_root)
    signature = secp256k1 (r || s || v) over `hash`

`pack` is the project's canonical msgpack (node.encoding); a message that
does not re-encode to the same bytes is malformed. The signer is carried
explicitly and must equal the address the signature recovers.

Validation (`validate_attestation`, one reason label per rule for metrics):

- `too_large`: more than `MAX_ATTESTATION_BYTES` bytes;
- `malformed`: not the canonical encoding of the five fields above;
- `wrong_chain`: another chain id;
- `bad_signature`: the signature does not recover, or recovers another address than `signer`;
- `unknown_signer`: the receiver has a non-empty attester set and the signer is not in it
  (an empty set accepts any signer: attestations are then only informative, a
  challenger still trusts only the signers it lists);
- `not_output_height`: the block number is 0 or not a multiple of the output interval;
- `future`: beyond the receiver's L2 head + `max_ahead` blocks;
- `stale`: more than `max_behind` blocks below the receiver's L2 head.

One attestation per (signer, height) is kept by node.attestation_pool: a
second, different root from the same signer is equivocation.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.crypto import Address, CryptoError, Hash32, PrivateKey, keccak256, recover_address
from node.encoding import DecodeError, expect_bytes, expect_int, expect_list, pack, unpack
from node.gossip import GossipRejected

ATTESTATION_DOMAIN = b"\x19rollup-devnet output attestation v1\x00"
MAX_ATTESTATION_BYTES = 256  # an encoded attestation is at most 142 bytes
DEFAULT_MAX_AHEAD = 256
DEFAULT_MAX_BEHIND = 4096


def attestation_topic(chain_id: int) -> str:
    return f"/rollup/{chain_id}/attestations/1"


class AttestationRejected(GossipRejected):
    """An attestation failed validation; `reason` is a short label for metrics (the gossip rejection of
    node.gossip, on the attestation topic)."""


@dataclass(frozen=True, slots=True)
class Attestation:
    chain_id: int
    l2_block_number: int
    output_root: bytes
    signer: Address
    signature: bytes

    def encode(self) -> bytes:
        return pack([self.chain_id, self.l2_block_number, self.output_root, self.signer, self.signature])

    def signing_hash(self) -> Hash32:
        return compute_attestation_hash(self.chain_id, self.l2_block_number, self.output_root)

    def recover_signer(self) -> Address:
        return recover_address(self.signing_hash(), self.signature)


def compute_attestation_hash(chain_id: int, l2_block_number: int, output_root: bytes) -> Hash32:
    return Hash32(
        keccak256(ATTESTATION_DOMAIN + chain_id.to_bytes(8, "big") + l2_block_number.to_bytes(8, "big") + output_root)
    )


def sign_attestation(key: PrivateKey, chain_id: int, l2_block_number: int, output_root: bytes) -> Attestation:
    if len(output_root) != 32:
        raise ValueError(f"output root must be 32 bytes, got {len(output_root)}")
    signature = key.sign_hash(compute_attestation_hash(chain_id, l2_block_number, output_root))
    return Attestation(chain_id, l2_block_number, bytes(output_root), key.address, signature)


def decode_attestation(data: bytes) -> Attestation:
    """Decode the canonical encoding; raises DecodeError."""
    fields = expect_list(unpack(data, MAX_ATTESTATION_BYTES), 5, "attestation")
    attestation = Attestation(
        chain_id=expect_int(fields[0], "chain_id"),
        l2_block_number=expect_int(fields[1], "l2_block_number"),
        output_root=expect_bytes(fields[2], "output_root", 32),
        signer=Address(expect_bytes(fields[3], "signer", 20)),
        signature=expect_bytes(fields[4], "signature", 65),
    )
    if attestation.encode() != data:
        raise DecodeError("attestation is not canonically encoded")
    return attestation


@dataclass(frozen=True, slots=True)
class AttestationRules:
    chain_id: int
    output_interval: int
    attesters: frozenset[bytes] = frozenset()  # empty: any signer
    max_ahead: int = DEFAULT_MAX_AHEAD
    max_behind: int = DEFAULT_MAX_BEHIND
    max_bytes: int = MAX_ATTESTATION_BYTES

    def __post_init__(self) -> None:
        if self.output_interval < 1:
            raise ValueError("output_interval must be positive")
        if self.max_ahead < 0 or self.max_behind < 0:
            raise ValueError("max_ahead and max_behind must not be negative")


def validate_attestation(data: bytes, rules: AttestationRules, head: int) -> Attestation:
    """Return the decoded attestation, or raise AttestationRejected. `head` is the receiver's L2 head."""
    if len(data) > rules.max_bytes:
        raise AttestationRejected("too_large", f"{len(data)} bytes, limit {rules.max_bytes}")
    try:
        attestation = decode_attestation(data)
    except DecodeError as exc:
        raise AttestationRejected("malformed", str(exc)) from None
    if attestation.chain_id != rules.chain_id:
        raise AttestationRejected("wrong_chain", f"chain {attestation.chain_id}, expected {rules.chain_id}")
    try:
        recovered = attestation.recover_signer()
    except CryptoError as exc:
        raise AttestationRejected("bad_signature", str(exc)) from None
    if recovered != attestation.signer:
        raise AttestationRejected(
            "bad_signature", f"signature recovers 0x{recovered.hex()}, not 0x{attestation.signer.hex()}"
        )
    if rules.attesters and attestation.signer not in rules.attesters:
        raise AttestationRejected("unknown_signer", f"0x{attestation.signer.hex()} is not a configured attester")
    validate_height(attestation.l2_block_number, rules, head)
    return attestation


def validate_height(number: int, rules: AttestationRules, head: int) -> None:
    """Raise AttestationRejected unless `number` is an output height within the receiver's window."""
    if number == 0 or number % rules.output_interval:
        raise AttestationRejected(
            "not_output_height", f"block {number} is not a positive multiple of {rules.output_interval}"
        )
    if number > head + rules.max_ahead:
        raise AttestationRejected("future", f"block {number} is beyond head {head} + {rules.max_ahead}")
    if number + rules.max_behind < head:
        raise AttestationRejected("stale", f"block {number} is more than {rules.max_behind} below head {head}")
