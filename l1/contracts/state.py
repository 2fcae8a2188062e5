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

An OutputProposal is a node.records @record: the same fields give its
stored array (the index is in its key; status as its code 0-3) and its JSON
in l1_getOutputs (l1.contracts.reports.OutputReport adds `finalizesAt` and
the dispute).

Zero amounts and empty accounts are stored as absence. Conservation: the sum
of balances + portal + bonds + burned equals the genesis supply forever.
"""

from __future__ import annotations

from enum import StrEnum

from l1.chain.accounts import get_amount, set_amount
from node.crypto import Address, Hash32
from node.encoding import expect_int, pack, unpack
from node.records import ADDRESS, AMOUNT, HASH, UINT, Coded, field, from_wire, record, to_wire
from node.state.view import Overlay, StateReader

STATE_PREFIX = b"S"
PORTAL_KEY = b"Sportal"
BONDS_KEY = b"Sbonds"
OUTPUT_COUNT_KEY = b"Socount"
OUTPUT_CURSOR_KEY = b"Socursor"
LAST_FINALIZATION_KEY = b"Solastfin"
OUTPUT_PREFIX = b"Soi"
MAX_OUTPUT_BYTES = 160


class OutputStatus(StrEnum):
    """An output's status: its JSON text is its value, its stored code is OUTPUT_STATUS_CODES'."""

    PENDING = "pending"
    FINALIZED = "finalized"
    DISPUTED = "disputed"  # a game over it is in progress
    DEFEATED = "defeated"  # a challenger beat every defender

    @property
    def label(self) -> str:
        return self.value


OUTPUT_STATUS_CODES = {
    OutputStatus.PENDING: 0,
    OutputStatus.FINALIZED: 1,
    OutputStatus.DISPUTED: 2,
    OutputStatus.DEFEATED: 3,
}


@record
class OutputProposal:
    index: int = field(UINT, "index", wire=False)  # in its key
    l2_block_number: int = field(UINT, "l2BlockNumber")
    output_root: Hash32 = field(HASH, "outputRoot")
    proposer: Address = field(ADDRESS, "proposer")
    bond: int = field(AMOUNT, "bond")
    proposed_at: int = field(UINT, "proposedAt")  # L1 block number
    status: OutputStatus = field(Coded(OUTPUT_STATUS_CODES), "status")

    def finalizes_at(self, challenge_window: int) -> int:
        return self.proposed_at + challenge_window


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
    return None if raw is None else from_wire(OutputProposal, unpack(raw, MAX_OUTPUT_BYTES), index=index)


def set_output(overlay: Overlay, proposal: OutputProposal) -> None:
    overlay.set(output_key(proposal.index), pack(to_wire(proposal)))


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
