"""The L1 mempool: the mempool core (node.mempool) with the L1's rules, in memory only.

Rules (checked by the core's `add`, after the chain has validated signature,
chain id, fee, nonce >= account nonce and balance, l1.chain.producer):
- at most `max_txs` in total (MempoolFull) and `max_per_sender` per sender (SenderQueueFull);
- a nonce at most `max_per_sender - 1` ahead of the account nonce (NonceGapTooLarge):
  the account nonce and the next `max_per_sender - 1` are held; a transaction
  behind a gap waits until the gap fills;
- the same hash again is AlreadyKnown; the same sender and nonce with a strictly
  higher fee replaces the pending one (a 0 % bump), otherwise ReplacementUnderpriced.
Refusals use the L1's words (Wording.L1); their codes are the sequencer's.

`take` hands a block the executable transactions: per sender the run of
consecutive nonces from the account nonce, merged across senders by arrival.
No payability beyond each transaction's own, no priorities, no eviction.

Like anvil's, this mempool is not persisted: transactions acknowledged by
l1_sendRawTransaction but not yet in a block are lost if the process dies.
"""

from __future__ import annotations

from l1.chain.config import MempoolLimits
from l1.chain.tx import RecoveredL1Tx
from node.mempool import NoncePool, PoolRules
from node.mempool_errors import Wording

L1Mempool = NoncePool[RecoveredL1Tx]


def compute_l1_pool_rules(limits: MempoolLimits) -> PoolRules:
    return PoolRules(
        max_txs=limits.max_txs,
        max_per_sender=limits.max_per_sender,
        max_nonce_gap=limits.max_per_sender - 1,
        price_bump_percent=0,
        wording=Wording.L1,
    )


def open_l1_mempool(limits: MempoolLimits) -> L1Mempool:
    """An empty pool (its costs: fee + value, node.stf.ledger.compute_envelope_cost) with the L1's rules."""
    return NoncePool(compute_l1_pool_rules(limits))


__all__ = ["L1Mempool", "compute_l1_pool_rules", "open_l1_mempool"]
