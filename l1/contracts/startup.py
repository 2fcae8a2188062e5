"""The contracts' start-up on an opened L1 chain: the L2 genesis output root, and the L2 blocks of its history.

    prepare_rollup(chain, config) -> the chain's params, with the genesis output root filled in

Run by the L1 process right after opening the chain, before the first block.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from l1.chain.config import L1Config
from l1.chain.errors import L1ChainError
from l1.chain.producer import L1Chain
from l1.contracts.l2_blocks import backfill_l2_blocks, get_l2_head
from l1.contracts.l2_genesis import compute_l2_genesis_output_root
from l1.contracts.params import L1ChainParams
from node.crypto import Address
from node.state.view import Overlay

log = logging.getLogger(__name__)


def prepare_rollup(chain: L1Chain, config: L1Config) -> L1ChainParams:
    """Resolve the L2 genesis output root and derive the L2 blocks of a history never tracked; return the params."""
    params = resolve_l2_genesis_root(chain, config.params, config.l2_genesis_alloc, config.l2_genesis_extra)
    backfill(chain, params)
    return params


def backfill(chain: L1Chain, params: L1ChainParams) -> None:
    """A chain written before the L1 followed its inbox: derive its L2 blocks from its history, once."""
    rules = params.disputes.rules
    if rules is None:
        return
    overlay = Overlay(chain.kv)
    derived = backfill_l2_blocks(overlay, rules, chain.head.number)
    if overlay.writes:
        chain.kv.write({k: v for k, v in overlay.writes.items() if v is not None})
        if derived:
            log.info(
                "derived L2 blocks 1..%d from this L1's history (it had not tracked them)", get_l2_head(chain.kv).number
            )


def resolve_l2_genesis_root(
    chain: L1Chain,
    params: L1ChainParams,
    l2_alloc: tuple[tuple[Address, int], ...] | None,
    l2_extra: Mapping[bytes, bytes] | None = None,
) -> L1ChainParams:
    """`params` with the L2 genesis output root computed from L1 block 0, if the config gives the L2 genesis
    allocation and no explicit root (l1.contracts.l2_genesis)."""
    disputes = params.disputes
    if disputes.genesis_output_root is not None or l2_alloc is None:
        return params
    block0 = chain.get_block(0)
    if block0 is None:
        raise L1ChainError("the L1 chain has no block 0")
    root = compute_l2_genesis_output_root(l2_alloc, block0.header.timestamp_ms, block0.hash(), l2_extra)
    log.info("L2 genesis output root 0x%s (from [l1.rollup.genesis] and L1 block 0)", root.hex())
    return replace(params, disputes=replace(disputes, genesis_output_root=root))


__all__ = ["backfill", "prepare_rollup", "resolve_l2_genesis_root"]
