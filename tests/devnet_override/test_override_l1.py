"""Balance overrides on the L1 contracts and through the fraud proof, in-process: a real L1 chain, a real L2 chain
derived from its events, games played to the end.

- a chain without the rule refuses set_l2_balance (status 0, nothing locked, no event) and a forced
  transaction that is an override encoding;
- on a devnet chain the override is queued among the deposits in log order, locks its value in the portal,
  and the L1 rebuilds it into the L2 block exactly as the nodes derived it;
- an honest output over a block that opens with an override is defended by a one-step proof of that very
  step; a faulty output past the override is defeated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from l1.chain.accounts import get_balance
from l1.chain.config import l1_config_from_dict
from l1.contracts.errors import BalanceOverridesDisabled, ForcedDeposit
from l1.contracts.events import L2BalanceSet
from l1.contracts.inbox import rebuild_block
from l1.contracts.l2_genesis import compute_l2_genesis_output_root
from l1.contracts.payloads import Deposit, ForceTx, SetL2Balance
from l1.contracts.reports import DerivationBlock
from l1.contracts.state import OutputStatus, get_output, get_portal_balance
from node.batch import BatchBlock
from node.chain import Chain, decode_receipt
from node.crypto import Address
from node.derivation import system_transactions
from node.fraud.trace import get_block_output
from node.rollup_config import load_rollup_config
from node.service import ConfigError
from node.state.schema import get_account, get_supply
from node.stf.chain_rules import DEVNET_OVERRIDES_KEY, compute_chain_rule_writes
from node.store.chain import ChainStore
from node.tx import BalanceOverrideTx, DepositTx, RecoveredTx, Transfer, decode_tx
from tests.fraud.support import ALLOC, CONFIG, KEYS, WRONG_CONFIG
from tests.l1.support import (
    CHALLENGER,
    HELPER,
    L1_START_MS,
    USER,
    WINDOW,
    View,
    World,
    dispute,
    expect_failure,
    play,
    status_of,
)

FRESH = Address(b"\xf0" * 20)
RAISED = 4 * 10**14  # FRESH's balance after the first override (the test L1 accounts hold 10^15)
LOWERED = 1  # KEYS[1]'s after the second


class OverrideWorld(World):
    """World on a devnet chain: the rule in the L2 genesis and in the L1's params; L2 blocks take their system
    transactions from the L1's derivation data (l1_getDerivationData's records), overrides included."""

    def __init__(self, tmp: Path, faulty_block: int | None = None, rule: bool = True) -> None:
        self.rule = rule
        super().__init__(tmp, faulty_block)
        self.l1.params = replace(self.l1.params, devnet_overrides=rule)

    def _new_l2(self, path: Path) -> Chain:
        chain = Chain(ChainStore(path), CONFIG)
        l1_genesis = (0, self.l1.get_block(0).hash())  # type: ignore[union-attr]
        chain.init_genesis(ALLOC, L1_START_MS, l1_genesis, compute_chain_rule_writes(self.rule))
        return chain

    def seal(self, candidates: list[RecoveredTx], first_in_epoch: bool, offset_ms: int) -> None:
        origin_block = self.l1.get_block(self.l1.head.number)
        assert origin_block is not None
        origin = DerivationBlock.of(origin_block).to_block_data()
        deposits, forced = system_transactions(origin) if first_in_epoch else ((), [])
        number = self.honest.head().number + 1
        timestamp = origin.timestamp_ms + offset_ms
        sealed, build = self.honest.seal_block(candidates, timestamp, (origin.number, origin.hash), deposits, forced)
        assert not build.rejected and not build.system_skipped, build.system_skipped
        if self.faulty is not None:
            faulty = self.faulty if number != self.faulty_block else Chain(self.faulty.store, WRONG_CONFIG)
            faulty.seal_block(candidates, timestamp, (origin.number, origin.hash), deposits, forced)
        user = sealed.block.transactions[build.system_count :]
        self.pending_batch.append(BatchBlock(number, timestamp, origin.number, tuple(user)))

    def build_override_scenario(self) -> None:
        """L1 block 1: override FRESH (no key) up, its value locked; a deposit; override KEYS[1] down; a forced
        transfer. L2 1-3 (origin L1 1): block 1 opens with those four, then a transfer to FRESH and one that
        KEYS[1] receives; L2 4-6 (origin L1 2): transfers. A batch for each three blocks."""
        k0, k1, k2, k3 = KEYS
        forced = self.l2_tx(k3, Transfer(k0.address, 5))
        for payload, value in (
            (SetL2Balance(FRESH, RAISED), RAISED),
            (Deposit(k0.address), 50_000),
            (SetL2Balance(k1.address, LOWERED), 0),
        ):
            self.send(USER, payload, value)
        self.send(USER, ForceTx(forced.raw))
        self.mine()
        self.seal([self.l2_tx(k0, Transfer(FRESH, 1_000)), self.l2_tx(k2, Transfer(k1.address, 7))], True, 10)
        self.seal([self.l2_tx(k2, Transfer(k0.address, 3))], False, 20)
        self.seal([self.l2_tx(k0, Transfer(k2.address, 4))], False, 30)
        self.post_batch()
        self.seal([self.l2_tx(k0, Transfer(k3.address, 11))], True, 10)
        self.seal([self.l2_tx(k2, Transfer(k3.address, 12)), self.l2_tx(k3, Transfer(k2.address, 13))], False, 20)
        self.seal([], False, 30)
        self.post_batch()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[OverrideWorld]:
    w = OverrideWorld(tmp_path, faulty_block=5)
    w.build_override_scenario()
    yield w
    w.close()


# -- the L1 contract --


def test_a_chain_without_the_rule_refuses_set_l2_balance(tmp_path: Path) -> None:
    w = OverrideWorld(tmp_path, rule=False)
    try:
        supply, portal, before = w.total_supply(), get_portal_balance(w.l1.kv), get_balance(w.l1.kv, USER.address)
        message = expect_failure(w, USER, SetL2Balance(FRESH, RAISED), BalanceOverridesDisabled, value=RAISED)
        assert "devnet_overrides is off" in message
        assert get_portal_balance(w.l1.kv) == portal and get_balance(w.l1.kv, USER.address) == before - 1  # fee only
        block = w.l1.get_block(w.l1.head.number)
        assert block is not None and not any(isinstance(e, L2BalanceSet) for e in block.events)
        assert DerivationBlock.of(block).deposits == ()
        assert w.total_supply() == supply
    finally:
        w.close()


def test_a_forced_transaction_may_not_be_an_override(world: OverrideWorld) -> None:
    forged = BalanceOverrideTx(1, 0, USER.address, FRESH, 10**30).encode()
    assert "balance override" in expect_failure(world, USER, ForceTx(forged), ForcedDeposit)


def test_overrides_queue_with_the_deposits_lock_their_value_and_are_derived(world: OverrideWorld) -> None:
    block = world.l1.get_block(1)
    assert block is not None
    data = DerivationBlock.of(block)
    assert [(d.override, d.amount) for d in data.deposits] == [(True, RAISED), (False, 50_000), (True, LOWERED)]
    assert [d.log_index for d in data.deposits] == sorted(d.log_index for d in data.deposits)
    txs = data.to_block_data().deposits
    assert [type(t) for t in txs] == [BalanceOverrideTx, DepositTx, BalanceOverrideTx]
    assert get_portal_balance(world.l1.kv) == RAISED + 50_000  # the raise and the deposit; the lowering locks 0
    l2_block = world.honest.store.get_block(1)
    assert l2_block is not None and l2_block.transactions[:3] == tuple(t.encode() for t in txs)
    # the L1's own rebuild of L2 block 1 (the one-step verifier's input) is the block the nodes derived
    assert rebuild_block(world.l1.kv, CONFIG.chain_id, l2_block.header) == l2_block
    state = world.honest.store.latest_state()
    assert get_account(state, FRESH).balance == RAISED + 1_000
    assert get_account(state, KEYS[1].address).balance == LOWERED + 7
    receipts = [decode_receipt(r) for r in world.honest.store.get_receipts(1)]
    assert [(r.kind, r.status) for r in receipts[:4]] == [
        ("balance_override", 1),
        ("deposit", 1),
        ("balance_override", 1),
        ("transfer", 1),
    ]


def test_the_l2_supply_follows_the_overrides(world: OverrideWorld) -> None:
    genesis = sum(ALLOC.values())
    state = world.honest.store.latest_state()
    expected = genesis + RAISED + 50_000 + (LOWERED - ALLOC[KEYS[1].address])
    assert get_supply(state) == expected


# -- the fraud proof --


def test_an_honest_output_over_an_override_is_defended_by_a_one_step_proof_of_it(world: OverrideWorld) -> None:
    supply = world.total_supply()
    index = world.propose(6)
    game_id = dispute(world, index)
    # a contrarian challenger disagrees with every claim: the game narrows to block 1, step 0, the override
    stats = play(world, game_id, View(world.honest), None, prover=HELPER)
    record = world.game(game_id)
    assert record.game.defender_won
    assert record.game.disputed_header is not None and record.game.disputed_header.number == 1
    assert record.game.lo == 0 and stats.witness_bytes  # the proof of step 0
    block = world.honest.store.get_block(1)
    assert block is not None and type(decode_tx(block.transactions[0])) is BalanceOverrideTx  # step 0
    world.mine_until(get_output(world.l1.kv, index).finalizes_at(WINDOW))  # type: ignore[union-attr]
    assert status_of(world, index) is OutputStatus.FINALIZED
    assert world.total_supply() == supply


def test_a_faulty_output_past_an_override_is_defeated(world: OverrideWorld) -> None:
    index = world.propose(6, faulty=True)  # block 5 executed with another fee recipient
    game_id = dispute(world, index)
    play(world, game_id, View.faulty(world), View(world.honest), prover=CHALLENGER)
    record = world.game(game_id)
    assert record.game.challenger_won
    assert record.game.disputed_header is not None and record.game.disputed_header.number == 5
    world.mine_until(get_output(world.l1.kv, index).finalizes_at(WINDOW))  # type: ignore[union-attr]
    assert status_of(world, index) is OutputStatus.DEFEATED


# -- the chain rule in config and genesis --


def test_the_rule_is_part_of_the_genesis_root_the_l1_computes_too(world: OverrideWorld) -> None:
    l1_genesis = world.l1.get_block(0)
    assert l1_genesis is not None
    on = compute_l2_genesis_output_root(ALLOC.items(), L1_START_MS, l1_genesis.hash(), compute_chain_rule_writes(True))
    off = compute_l2_genesis_output_root(ALLOC.items(), L1_START_MS, l1_genesis.hash(), {})
    assert on == get_block_output(world.honest.store, 0).output_root == world.genesis_root
    assert on != off


def rollup_doc(**extra: object) -> dict[str, object]:
    section = {"chain_id": 901, "l1_chain_id": 900, "fee_recipient": "0x" + "fe" * 20, **extra}
    return {"rollup": section}


def test_rollup_config_reads_the_rule_and_writes_it_into_genesis_only_when_on() -> None:
    assert not load_rollup_config(rollup_doc()).devnet_overrides
    assert DEVNET_OVERRIDES_KEY not in load_rollup_config(rollup_doc()).venue_genesis
    on = load_rollup_config(rollup_doc(devnet_overrides=True))
    assert on.devnet_overrides and on.venue_genesis[DEVNET_OVERRIDES_KEY] == b"\x01"
    with pytest.raises(ConfigError, match="rollup.devnet_overrides must be true or false"):
        load_rollup_config(rollup_doc(devnet_overrides="yes"))


def l1_doc(tmp_path: Path, **rollup: object) -> dict[str, object]:
    table = {"chain_id": 901, "fee_recipient": "0x" + "fe" * 20, **rollup}
    return {"node": {"data_dir": str(tmp_path)}, "l1": {"rollup": table}}


def test_l1_config_reads_the_rule_into_its_params_and_the_l2_genesis(tmp_path: Path) -> None:
    off = l1_config_from_dict(l1_doc(tmp_path))
    assert not off.params.devnet_overrides and DEVNET_OVERRIDES_KEY not in off.l2_genesis_extra
    on = l1_config_from_dict(l1_doc(tmp_path, devnet_overrides=True))
    assert on.params.devnet_overrides and on.l2_genesis_extra[DEVNET_OVERRIDES_KEY] == b"\x01"
    with pytest.raises(ConfigError, match="devnet_overrides"):
        l1_config_from_dict(l1_doc(tmp_path, devnet_overrides=1))
