"""Gossip message signing and validation, and the range sync codec."""

from __future__ import annotations

import pytest

from node.block import Block, BlockHeader
from node.crypto import PrivateKey
from node.encoding import DecodeError, pack
from node.gossip import (
    GossipRejected,
    GossipRules,
    decode_range_request,
    decode_range_response,
    decode_signed_block,
    encode_range_error,
    encode_range_request,
    encode_range_response,
    sign_block,
    validate_gossip,
)

SEQUENCER = PrivateKey(bytes([5]) * 32)
OTHER = PrivateKey(bytes([6]) * 32)
NOW = 1_700_000_000_000
RULES = GossipRules(chain_id=901, sequencer=SEQUENCER.address)


def block(timestamp: int = NOW, number: int = 7) -> Block:
    return Block(BlockHeader(number, bytes(32), timestamp, 3, bytes(32), bytes(32), bytes([1]) * 32), ())


def test_valid_message_round_trips() -> None:
    signed = sign_block(SEQUENCER, 901, block())
    assert validate_gossip(signed.encode(), RULES, NOW) == signed
    assert decode_signed_block(signed.encode()) == signed


@pytest.mark.parametrize(
    "data, reason",
    [
        (sign_block(OTHER, 901, block()).encode(), "bad_signature"),
        (sign_block(SEQUENCER, 902, block()).encode(), "wrong_chain"),
        (sign_block(SEQUENCER, 901, block(NOW + 60_000)).encode(), "future"),
        (sign_block(SEQUENCER, 901, block(NOW - 3_600_000)).encode(), "stale"),
        (b"\x93garbage", "malformed"),
        (sign_block(SEQUENCER, 901, block()).encode() + b"\x00", "malformed"),
        (bytes(RULES.max_bytes + 1), "too_large"),
    ],
)
def test_invalid_messages_are_rejected_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(GossipRejected) as info:
        validate_gossip(data, RULES, NOW)
    assert info.value.reason == reason


def test_tampered_block_does_not_verify() -> None:
    signed = sign_block(SEQUENCER, 901, block())
    forged = pack([901, block(number=8).to_fields(), signed.signature])
    with pytest.raises(GossipRejected) as info:
        validate_gossip(forged, RULES, NOW)
    assert info.value.reason == "bad_signature"


def test_range_codec() -> None:
    assert decode_range_request(encode_range_request(5, 10)) == (5, 10)
    for bad in (encode_range_request(5, 0), encode_range_request(5, 10_000), b"\x91\x01"):
        with pytest.raises(DecodeError):
            decode_range_request(bad)
    messages = [sign_block(SEQUENCER, 901, block(number=n)).encode() for n in range(3)]
    assert decode_range_response(encode_range_response(messages)) == messages
    with pytest.raises(DecodeError, match="error"):
        decode_range_response(encode_range_error("no such blocks"))
