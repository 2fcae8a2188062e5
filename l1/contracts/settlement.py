"""Settling an output proposal: once its challenge window has passed and none of its games is running.

    settle_output(overlay, number, proposal, log_index, tx_hash) -> events

- Never disputed: finalized, the proposer's bond back.
- Disputed: every challenger played every defender (l1.contracts.disputes). The output
  is defeated iff one challenger beat every defender; otherwise it is
  finalized. So an honest output survives any number of attackers as long as
  one honest defender plays, and a wrong one falls as long as one honest
  challenger plays, whoever else joins on either side.
  - Defeated: every challenger's bond is returned; each defender's bond goes
    to the first challenger that beat it.
  - Finalized: every defender's bond is returned (the proposer's too, even if
    it was offline and lost its own games on time); each challenger's bond
    goes to the first defender that beat it (each lost at least one game,
    or it would have beaten them all).

A finalization records its L1 block: the proposer fallback counts from it.
"""

from __future__ import annotations

from dataclasses import replace

from l1.chain.events import Event
from l1.contracts.dispute_state import Party, PartySide, get_dispute_counts, list_parties
from l1.contracts.events import OutputDefeated, OutputFinalized
from l1.contracts.ledger import process_pay_bond
from l1.contracts.state import OutputProposal, OutputStatus, set_last_finalization, set_output
from node.crypto import Hash32
from node.state.view import Overlay


def settle_output(
    overlay: Overlay, number: int, proposal: OutputProposal, log_index: int, tx_hash: Hash32 | None = None
) -> list[Event]:
    """Finalize or defeat `proposal` (its window passed, no game running) and pay every bond; return the event."""
    if get_dispute_counts(overlay, proposal.index).defenders == 0:
        process_pay_bond(overlay, proposal.proposer, proposal.bond)
        return [finalize(overlay, number, proposal, log_index, tx_hash)]
    challengers = list_parties(overlay, proposal.index, PartySide.CHALLENGER)
    defenders = list_parties(overlay, proposal.index, PartySide.DEFENDER)
    winner = find_winning_challenger(challengers, len(defenders))
    if winner is None:
        pay_bonds(overlay, winners=defenders, losers=challengers)
        return [finalize(overlay, number, proposal, log_index, tx_hash)]
    pay_bonds(overlay, winners=challengers, losers=defenders)
    set_output(overlay, replace(proposal, status=OutputStatus.DEFEATED))
    return [
        OutputDefeated(
            log_index,
            tx_hash,
            proposal.index,
            proposal.l2_block_number,
            proposal.output_root,
            challengers[winner].address,
        )
    ]


def find_winning_challenger(challengers: list[Party], defender_count: int) -> int | None:
    """The slot of the first challenger that beat every defender, if one did."""
    return next((slot for slot, c in enumerate(challengers) if c.wins >= defender_count), None)


def pay_bonds(overlay: Overlay, winners: list[Party], losers: list[Party]) -> None:
    """The winning side's bonds back to them; each loser's bond to the first winner that beat it."""
    for party in winners:
        process_pay_bond(overlay, party.address, party.bond)
    for party in losers:
        taker = winners[party.beaten_by] if party.beaten_by is not None else party  # unbeaten: its own back
        process_pay_bond(overlay, taker.address, party.bond)


def finalize(
    overlay: Overlay, number: int, proposal: OutputProposal, log_index: int, tx_hash: Hash32 | None
) -> OutputFinalized:
    set_output(overlay, replace(proposal, status=OutputStatus.FINALIZED))
    set_last_finalization(overlay, number)
    return OutputFinalized(
        log_index,
        tx_hash,
        proposal.index,
        proposal.l2_block_number,
        proposal.output_root,
        proposal.proposer,
        proposal.bond,
    )


__all__ = ["find_winning_challenger", "pay_bonds", "settle_output"]
