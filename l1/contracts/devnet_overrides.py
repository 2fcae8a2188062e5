"""A devnet's L2 balance overrides (kind 13, set_l2_balance): the L1 side.

    set_l2_balance(l2_to, balance), value = locked     -> event l2_balance_set(from, to, balance, locked)

Only a chain whose rule `devnet_overrides` is on accepts one (`[l1.rollup]
devnet_overrides = true`, which `rollup devnet up` alone writes; the same
rule is in the L2's genesis state, node.stf.chain_rules). Elsewhere the
transaction is included with status 0 (BalanceOverridesDisabled): no event,
nothing locked, and derivation has nothing to turn into an override.

The event sits in the L1 block's log order among the deposits, and
derivation makes it a node.tx.BalanceOverrideTx at that place in the
epoch's first L2 block (l1.contracts.inbox, l1.contracts.reports): the
sequencer cannot skip it, every node re-executes it, the one-step verifier
rebuilds it from this event.

Supply: the transaction's value is locked in the portal, like a deposit's
(the L1's conservation, balances + portal + bonds + burned = genesis
supply, holds). The L1 cannot know the L2 balance the override replaces, so
the caller locks the increase it expects (node.devnet.funding locks
balance - current balance when positive); a decrease locks nothing and the
portal keeps the difference (it only holds more than L2 can withdraw).
"""

from __future__ import annotations

from l1.chain.events import Event
from l1.chain.runtime import L1BlockEnv
from l1.chain.tx import RecoveredL1Tx
from l1.contracts.errors import BalanceOverridesDisabled
from l1.contracts.events import L2BalanceSet
from l1.contracts.ledger import process_debit
from l1.contracts.params import L1ChainParams
from l1.contracts.payloads import SetL2Balance
from l1.contracts.state import get_portal_balance, set_portal_balance
from node.state.view import Overlay


def apply_set_l2_balance(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: SetL2Balance = rtx.tx.payload
    validate_overrides_enabled(params)
    process_debit(overlay, rtx.sender, rtx.tx.value)
    set_portal_balance(overlay, get_portal_balance(overlay) + rtx.tx.value)
    return [L2BalanceSet(log, rtx.hash, rtx.sender, payload.l2_to, payload.balance, rtx.tx.value)]


def validate_overrides_enabled(params: L1ChainParams) -> None:
    if not params.devnet_overrides:
        raise BalanceOverridesDisabled()


__all__ = ["apply_set_l2_balance", "validate_overrides_enabled"]
