"""Sequencing priority of the venue's transactions, for the sequencer's mempool.

    priority_of(rtx) -> int      lower runs earlier in a block

| priority | transactions                                   |
|----------|------------------------------------------------|
| 0        | oracle_update                                  |
| 1        | cancel_order, cancel_all                       |
| 2        | everything else (place_order, transfers, ...)  |

Oracle updates go first so every order in a block trades, and every
liquidation runs, against the newest mark price, and so they never starve
when the sequencer is saturated; cancels go next so makers can pull quotes
before takers hit them. Deposits and forced transactions are not the
mempool's: derivation puts them first regardless. The mempool must keep
each sender's nonce order: the priority ranks the head transactions of the
senders' queues (see the integration notes in node.venue).
"""

from __future__ import annotations

from node.tx import RecoveredTx, SignedTx
from node.venue.payloads import CancelAll, CancelOrder, OracleUpdate

PRIORITY_ORACLE = 0
PRIORITY_CANCEL = 1
PRIORITY_DEFAULT = 2


def priority_of(rtx: RecoveredTx) -> int:
    tx = rtx.tx
    if not isinstance(tx, SignedTx):
        return PRIORITY_DEFAULT
    if isinstance(tx.payload, OracleUpdate):
        return PRIORITY_ORACLE
    if isinstance(tx.payload, (CancelOrder, CancelAll)):
        return PRIORITY_CANCEL
    return PRIORITY_DEFAULT
