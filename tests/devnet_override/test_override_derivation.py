"""Balance overrides through derivation: L1 data carrying one gives every node the same block.

On a chain without the rule (a forged or misconfigured L1: a real one refuses set_l2_balance) two replicas
derive the same block, skip the override the same way, and end at the state root of a replica that saw no
override at all. On a devnet chain (rule in genesis) the override is applied at its place among the deposits.
"""

from __future__ import annotations

from pathlib import Path

from node.chain import Chain, decode_receipt
from node.crypto import Address
from node.derivation import Deriver
from node.state.schema import get_account, get_supply
from node.stf.chain_rules import compute_chain_rule_writes
from node.stf.errors import UnknownKind
from node.store.chain import ChainStore
from node.tx import BalanceOverrideTx, DepositTx
from tests.derivation.test_derivation import ALICE, ALLOC, CONFIG, RULES, l1_block

FRESH = Address(b"\xab" * 20)
L1_SENDER = Address(b"\x11" * 20)
DEPOSIT = DepositTx(1, 0, L1_SENDER, FRESH, 1_000)
RAISE = BalanceOverrideTx(1, 1, L1_SENDER, FRESH, 10**24)
EMPTY_ALICE = BalanceOverrideTx(1, 2, L1_SENDER, ALICE.address, 0)


def new_replica(path: Path, rule: bool) -> Deriver:
    chain = Chain(ChainStore(path), CONFIG)
    origin = l1_block(0)
    chain.init_genesis(ALLOC, origin.timestamp_ms, (0, origin.hash), compute_chain_rule_writes(rule))
    deriver = Deriver(chain, RULES)
    deriver.add_l1_block(l1_block(deriver.needed_origins()))
    return deriver


def derive(replica: Deriver, *deposits: DepositTx) -> None:
    """L1 block 1 with `deposits`, then blocks until its epoch's default L2 block is derived."""
    replica.process_l1_block(l1_block(1, deposits=deposits))
    for n in range(2, 2 + RULES.sequencing_window):
        replica.process_l1_block(l1_block(n))
    assert replica.chain.head().number >= 1


def test_without_the_rule_every_node_skips_the_override_and_reaches_the_same_state_root(tmp_path: Path) -> None:
    first, second = new_replica(tmp_path / "a", False), new_replica(tmp_path / "b", False)
    plain = new_replica(tmp_path / "plain", False)
    derive(first, DEPOSIT, RAISE, EMPTY_ALICE)
    derive(second, DEPOSIT, RAISE, EMPTY_ALICE)
    derive(plain, DEPOSIT)
    a, b = first.chain.store.get_block(1), second.chain.store.get_block(1)
    assert a is not None and a == b and len(a.transactions) == 3
    assert first.chain.head() == second.chain.head()
    assert first.chain.head().state_root == plain.chain.head().state_root  # as if the overrides were not there
    receipts = [decode_receipt(r) for r in first.chain.store.get_receipts(1)]
    assert [(r.kind, r.status, r.error) for r in receipts] == [
        ("deposit", 1, None),
        ("balance_override", 0, UnknownKind.rpc_code),
        ("balance_override", 0, UnknownKind.rpc_code),
    ]
    state = first.chain.store.latest_state()
    assert get_account(state, FRESH).balance == 1_000 and get_account(state, ALICE.address).balance == 10**20


def test_on_a_devnet_chain_derivation_applies_the_overrides_in_log_order(tmp_path: Path) -> None:
    replica = new_replica(tmp_path / "devnet", True)
    derive(replica, DEPOSIT, RAISE, EMPTY_ALICE)
    state = replica.chain.store.latest_state()
    assert get_account(state, FRESH).balance == 10**24  # the deposit first, then set to exactly 10^24
    assert get_account(state, ALICE.address).balance == 0
    assert get_supply(state) == sum(ALLOC.values()) - 10**20 + 10**24
    receipts = [decode_receipt(r) for r in replica.chain.store.get_receipts(1)]
    assert [(r.kind, r.status) for r in receipts] == [("deposit", 1), ("balance_override", 1), ("balance_override", 1)]
