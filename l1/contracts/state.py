"""Typed access to the contracts' L1 state: the portal, bonds and output proposals (accounts: l1.chain.accounts).

The L1 has no state tree: its state is plain keys in the chain's RocksDB,
next to the blocks, all under the one-byte namespace `S`. The contracts read
through any `StateReader` (`get`) and write into an `Overlay`
(node.state.view), so execution stays pure and a block's writes land in the
same atomic batch as the block itself.

| key                          | value                                                  |
|------------------------------|--------------------------------------------------------|
| S portal                     | amount locked by deposits                              |
| S bonds                      | amount locked as proposal bonds                        |
| S o count                    | msgpack int: number of output proposals                |
| S o cursor                   | msgpack int: first proposal not yet past its window    |
| S o lastfin                  | msgpack int: L1 block of the latest output finalization (0: none yet) |
| S o index(8)                 | msgpack [l2_block_number, output_root, proposer, bond_bytes, proposed_at, status] |

Zero amounts and empty accounts are stored as absence. Conservation: the sum
of balances + portal + bonds + burned equals the genesis supply forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from node.crypto import ADDRESS_LEN, Address, Hash32
from node.encoding import decode_uint, encode_uint, expect_bytes, expect_int, expect_list, pack, unpack
from node.state.view import Overlay, StateReader
from l1.chain.accounts import get_amount, set_amount

STATE_PREFIX = b"S"
PORTAL_KEY = b"Sportal"
BONDS_KEY = b"Sbonds"
OUTPUT_COUNT_KEY = b"Socount"
OUTPUT_CURSOR_KEY = b"Socursor"
LAST_FINALIZATION_KEY = b"Solastfin"
OUTPUT_PREFIX = b"Soi"
MAX_OUTPUT_BYTES = 160


class OutputStatus(IntEnum):
    PENDING = 0
    FINALIZED = 1
    DISPUTED = 2  # a game over it is in progress
    DEFEATED = 3  # a challenger beat every defender

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class OutputProposal:
    index: int
    l2_block_number: int
    output_root: Hash32
    proposer: Address
    bond: int
    proposed_at: int  # L1 block number
    status: OutputStatus

    def finalizes_at(self, challenge_window: int) -> int:
        return self.proposed_at + challenge_window

    def to_fields(self) -> list[Any]:
        return [
            self.l2_block_number,
            self.output_root,
            self.proposer,
            encode_uint(self.bond),
            self.proposed_at,
            int(self.status),
        ]

    @classmethod
    def from_fields(cls, index: int, fields: Any) -> "OutputProposal":
        expect_list(fields, 6, "output proposal")
        return cls(
            index=index,
            l2_block_number=expect_int(fields[0], "l2_block_number"),
            output_root=Hash32(expect_bytes(fields[1], "output_root", 32)),
            proposer=Address(expect_bytes(fields[2], "proposer", ADDRESS_LEN)),
            bond=decode_uint(fields[3], "bond"),
            proposed_at=expect_int(fields[4], "proposed_at"),
            status=OutputStatus(expect_int(fields[5], "status", maximum=max(OutputStatus))),
        )


# -- keys --


def output_key(index: int) -> bytes:
    return OUTPUT_PREFIX + index.to_bytes(8, "big")


def get_portal_balance(reader: StateReader) -> int:
    return get_amount(reader, PORTAL_KEY)


def set_portal_balance(overlay: Overlay, amount: int) -> None:
    set_amount(overlay, PORTAL_KEY, amount)


def get_bonds_locked(reader: StateReader) -> int:
    return get_amount(reader, BONDS_KEY)


def set_bonds_locked(overlay: Overlay, amount: int) -> None:
    set_amount(overlay, BONDS_KEY, amount)


def _get_counter(reader: StateReader, key: bytes) -> int:
    raw = reader.get(key)
    return 0 if raw is None else expect_int(unpack(raw, 16), key.decode())


def get_output_count(reader: StateReader) -> int:
    return _get_counter(reader, OUTPUT_COUNT_KEY)


def get_finalization_cursor(reader: StateReader) -> int:
    """Index of the first proposal whose challenge window has not yet been checked as passed."""
    return _get_counter(reader, OUTPUT_CURSOR_KEY)


def set_finalization_cursor(overlay: Overlay, index: int) -> None:
    overlay.set(OUTPUT_CURSOR_KEY, pack(index))


def get_output(reader: StateReader, index: int) -> OutputProposal | None:
    raw = reader.get(output_key(index))
    return None if raw is None else OutputProposal.from_fields(index, unpack(raw, MAX_OUTPUT_BYTES))


def set_output(overlay: Overlay, proposal: OutputProposal) -> None:
    overlay.set(output_key(proposal.index), pack(proposal.to_fields()))


def append_output(overlay: Overlay, proposal: OutputProposal) -> None:
    """Store `proposal` at the next index (its `index` must be get_output_count())."""
    count = get_output_count(overlay)
    if proposal.index != count:
        raise ValueError(f"new proposal must have index {count}, got {proposal.index}")
    set_output(overlay, proposal)
    overlay.set(OUTPUT_COUNT_KEY, pack(count + 1))


def get_last_finalization(reader: StateReader) -> int:
    """The L1 block in which an output last finalized (0 before any): the proposer fallback counts from it."""
    return _get_counter(reader, LAST_FINALIZATION_KEY)


def set_last_finalization(overlay: Overlay, l1_block: int) -> None:
    overlay.set(LAST_FINALIZATION_KEY, pack(l1_block))


def list_outputs(reader: StateReader, from_index: int, count: int) -> list[OutputProposal]:
    end = min(get_output_count(reader), from_index + count)
    return [p for p in (get_output(reader, i) for i in range(from_index, end)) if p is not None]
