"""Shared world for the dispute and withdrawal tests: a real L2 chain whose batches sit in an in-process L1 chain.

`World` holds an L1Chain (RocksDB in a tmp dir, the real contracts) and an
honest L2 Chain (node.chain + ChainStore) built from the L1's own deposits and
forced transactions, plus optionally a faulty copy whose block `faulty_block`
was executed with another fee recipient (same transactions, wrong state).
Its batches are posted to the L1 by the batcher, so every one-step proof's
input really comes from the L1 inbox.

`View` is one party's knowledge (outputs, intermediate roots, openings, step
proofs) and `play` drives a game to its end between two views, one L1 block
per move, counting transactions and blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from l1.chain.accounts import get_balance, get_fees_burned
from l1.chain.producer import IncludedReceipt, L1Chain
from l1.chain.tx import sign_l1_tx
from l1.contracts.dispute_state import GameRecord, get_game
from l1.contracts.events import BatchPosted, DepositLocked, TxForced
from l1.contracts.l2_blocks import get_l2_head
from l1.contracts.params import DisputeParams, L1ChainParams
from l1.contracts.payloads import (
    DefendOutput,
    Deposit,
    DisputeOutput,
    ForceTx,
    GameMove,
    PostBatch,
    ProposeOutput,
    ProveStepTx,
)
from l1.contracts.runtime import ROLLUP
from l1.contracts.state import OutputStatus, get_bonds_locked, get_output, get_portal_balance
from node.batch import BatchBlock, encode_batch
from node.block import Block
from node.chain import Chain
from node.crypto import Hash32, PrivateKey
from node.derivation import L1BlockData, system_transactions
from node.fraud.game import Claim, OpenOutputs, Phase, Respond, Side
from node.fraud.steps import INVALID_ROOT
from node.fraud.trace import compute_intermediate_roots, compute_step_proof, get_block_output
from node.keys.hd import dev_account
from node.output import compute_output_root
from node.shape import RollupRules
from node.stf import ChainConfig
from node.store.chain import ChainStore
from node.store.kv import KVStore
from node.tx import DepositTx, RecoveredTx, Transfer, Withdrawal
from tests.fraud.support import ALLOC, CONFIG, KEYS, L1_RECIPIENT, WRONG_CONFIG, rtx_of

USER, BATCHER, PROPOSER, CHALLENGER, HELPER = (dev_account(i) for i in range(5))
L1_KEYS = (USER, BATCHER, PROPOSER, CHALLENGER, HELPER)
L1_BALANCE = 10**15
FEE = 1
BOND = 1_000
WINDOW = 60
CLOCK = 20
L1_START_MS = 10_000
DEPOSIT = 50_000
WITHDRAW_AMOUNT = 999


RULES = RollupRules(CONFIG.chain_id, max_block_txs=CONFIG.max_block_txs)


def l1_params(
    genesis_root: bytes | None, rollup: ChainConfig | None = CONFIG, window: int = WINDOW, fallback: int = 10_000
) -> L1ChainParams:
    """The test L1: PROPOSER is the permissioned proposer (anyone may after `fallback` blocks without a
    finalization), and the L1 follows the L2 blocks its inbox derives."""
    return L1ChainParams(
        chain_id=900,
        min_fee=FEE,
        batcher=BATCHER.address,
        proposer_bond=BOND,
        challenge_window=window,
        max_batch_bytes=131_072,
        disputes=DisputeParams(CLOCK, None if genesis_root is None else Hash32(genesis_root), rollup, RULES),
        proposer=PROPOSER.address,
        proposer_fallback_blocks=fallback,
    )


@dataclass
class Stats:
    txs: int = 0
    blocks: int = 0
    witness_bytes: list[int] = field(default_factory=list)


class World:
    def __init__(
        self,
        tmp: Path,
        faulty_block: int | None = None,
        window: int = WINDOW,
        genesis_root: bool = True,
        rollup: ChainConfig | None = CONFIG,
        fallback: int = 10_000,
    ) -> None:
        self.l1 = L1Chain(
            KVStore(tmp / "l1"),
            l1_params(None, rollup, window, fallback),
            tuple((k.address, L1_BALANCE) for k in L1_KEYS),
            ROLLUP,
        )
        self.l1.ensure_genesis(L1_START_MS)
        self.honest = self._new_l2(tmp / "honest")
        self.faulty = self._new_l2(tmp / "faulty") if faulty_block is not None else None
        self.faulty_block = faulty_block
        root = get_block_output(self.honest.store, 0).output_root
        self.genesis_root = root
        self.l1.params = l1_params(root if genesis_root else None, rollup, window, fallback)
        self.pending_batch: list[BatchBlock] = []
        self.l2_nonces: dict[bytes, int] = {}
        self.withdrawal_ids: list[bytes] = []

    def _new_l2(self, path: Path) -> Chain:
        chain = Chain(ChainStore(path), CONFIG)
        chain.init_genesis(ALLOC, timestamp_ms=L1_START_MS, l1_origin=(0, self.l1.get_block(0).hash()))
        return chain

    def close(self) -> None:
        self.l1.kv.close()
        self.honest.store.close()
        if self.faulty is not None:
            self.faulty.store.close()

    # -- L1 --

    def mine(self) -> None:
        self.l1.produce_block(L1_START_MS + 1000 * (self.l1.head.number + 1))

    def send(self, key: PrivateKey, payload: Any, value: int = 0) -> Hash32:
        nonce = self.l1.get_pending_nonce(key.address)
        return self.l1.submit(sign_l1_tx(key, 900, nonce, FEE, value, payload).encode())

    def run(self, key: PrivateKey, payload: Any, value: int = 0) -> IncludedReceipt:
        """Send one transaction and mine it into the next block; return its receipt."""
        tx_hash = self.send(key, payload, value)
        self.mine()
        receipt = self.l1.get_receipt(tx_hash)
        assert receipt is not None, "transaction was not included"
        return receipt

    def mine_until(self, number: int) -> None:
        while self.l1.head.number < number:
            self.mine()

    def total_supply(self) -> int:
        kv = self.l1.kv
        holders = [k.address for k in L1_KEYS] + [L1_RECIPIENT]
        return (
            sum(get_balance(kv, a) for a in holders)
            + get_portal_balance(kv)
            + get_bonds_locked(kv)
            + get_fees_burned(kv)
        )

    def game(self, game_id: int) -> GameRecord:
        record = get_game(self.l1.kv, game_id)
        assert record is not None
        return record

    # -- L2 --

    def l2_tx(self, key: PrivateKey, payload: object) -> RecoveredTx:
        nonce = self.l2_nonces.get(key.address, 0)
        self.l2_nonces[key.address] = nonce + 1
        return rtx_of(key, nonce, payload)

    def seal(self, candidates: list[RecoveredTx], first_in_epoch: bool, offset_ms: int) -> None:
        """Seal the next L2 block on both chains with the current L1 head as origin."""
        origin_block = self.l1.get_block(self.l1.head.number)
        assert origin_block is not None
        origin = l1_block_data(origin_block)
        deposits, forced = system_transactions(origin) if first_in_epoch else ((), [])
        number = self.honest.head().number + 1
        timestamp = origin.timestamp_ms + offset_ms
        sealed, build = self.honest.seal_block(candidates, timestamp, (origin.number, origin.hash), deposits, forced)
        assert not build.rejected and len(build.included) == len(candidates)
        if self.faulty is not None:
            faulty = self.faulty if number != self.faulty_block else Chain(self.faulty.store, WRONG_CONFIG)
            f_sealed, _ = faulty.seal_block(candidates, timestamp, (origin.number, origin.hash), deposits, forced)
            assert f_sealed.block.transactions == sealed.block.transactions
        user = sealed.block.transactions[build.system_count :]
        self.pending_batch.append(BatchBlock(number, timestamp, origin.number, tuple(user)))

    def post_batch(self) -> None:
        data = encode_batch(self.pending_batch, CONFIG.chain_id)
        receipt = self.run(BATCHER, PostBatch(data))
        assert receipt.receipt.status == 1, receipt.receipt.error
        assert any(isinstance(e, BatchPosted) for e in receipt.events)
        derived = get_l2_head(self.l1.kv).number
        assert derived == self.pending_batch[-1].number, f"the L1 derived up to L2 block {derived} only"
        self.pending_batch = []

    def build_scenario(self) -> None:
        """Six L2 blocks over two epochs, every system transaction kind, a withdrawal; batches on L1.

        L1 block 1: deposits (one to a fresh account), a valid and an undecodable forced transaction.
        L2 1-3 (origin L1 1): block 1 opens the epoch (2 deposits + 1 forced) with a transfer and a withdrawal.
        L1 block 2: batch of L2 1-3.  L2 4-6 (origin L1 2): block 6 has no user transactions.
        L1 block 3: batch of L2 4-6.
        """
        k0, k1, k2, k3 = KEYS
        forced = rtx_of(k1, 0, Transfer(k3.address, 5))
        self.l2_nonces[k1.address] = 1
        for payload, value in ((Deposit(k0.address), DEPOSIT), (Deposit(L1_RECIPIENT), 7)):
            self.send(USER, payload, value)
        self.send(USER, ForceTx(forced.raw))
        self.send(USER, ForceTx(b"\x01not a transaction"))
        self.mine()
        withdrawal = self.l2_tx(k2, Withdrawal(L1_RECIPIENT, WITHDRAW_AMOUNT))
        self.withdrawal_ids.append(withdrawal.hash)
        self.seal([self.l2_tx(k0, Transfer(k2.address, 1_234)), withdrawal], True, 10)
        self.seal([self.l2_tx(k3, Transfer(k0.address, 10)), self.l2_tx(k2, Transfer(k1.address, 3))], False, 20)
        self.seal([self.l2_tx(k1, Transfer(k2.address, 4))], False, 30)
        self.post_batch()
        self.seal([self.l2_tx(k0, Transfer(k1.address, 11))], True, 10)
        self.seal([self.l2_tx(k2, Transfer(k3.address, 12)), self.l2_tx(k3, Transfer(k2.address, 13))], False, 20)
        self.seal([], False, 30)
        self.post_batch()

    def propose(self, number: int, faulty: bool = False) -> int:
        """Propose the (honest or faulty) output of L2 block `number`; return the output index."""
        chain = self.faulty if faulty else self.honest
        assert chain is not None
        root = get_block_output(chain.store, number).output_root
        receipt = self.run(PROPOSER, ProposeOutput(number, root), BOND)
        assert receipt.receipt.status == 1, receipt.receipt.error
        return int(receipt.events[0].index)


def l1_block_data(block: Any) -> L1BlockData:
    return L1BlockData(
        number=block.number,
        hash=block.hash(),
        timestamp_ms=block.header.timestamp_ms,
        deposits=tuple(
            DepositTx(block.number, e.log_index, e.sender, e.l2_to, e.amount)
            for e in block.events
            if isinstance(e, DepositLocked)
        ),
        forced_txs=tuple(e.l2_tx for e in block.events if isinstance(e, TxForced)),
    )


class View:
    """What one party computes from its own chain: outputs, step roots, openings, step proofs."""

    def __init__(
        self, chain: Chain, config_of: Callable[[int], ChainConfig] = lambda n: CONFIG, extra_steps: int = 0
    ) -> None:
        self.chain = chain
        self.config_of = config_of
        self.extra_steps = extra_steps  # a lying defender: opens blocks with this many steps too many, padded
        self._roots: dict[int, tuple[bytes, ...]] = {}

    @classmethod
    def faulty(cls, world: World) -> View:
        assert world.faulty is not None
        return cls(world.faulty, lambda n: WRONG_CONFIG if n == world.faulty_block else CONFIG)

    def block(self, number: int) -> Block:
        block = self.chain.store.get_block(number)
        assert block is not None
        return block

    def step_roots(self, number: int) -> tuple[bytes, ...]:
        if number not in self._roots:
            self._roots[number] = compute_intermediate_roots(self.chain.store, self.config_of(number), number)
        return self._roots[number]

    def root_at(self, record: GameRecord, position: int) -> bytes:
        game = record.game
        if game.phase is Phase.BLOCKS:
            return get_block_output(self.chain.store, position).output_root
        assert game.disputed_header is not None
        roots = self.step_roots(game.disputed_header.number)
        if position < len(roots):
            return roots[position]
        return roots[-1] if self.extra_steps else INVALID_ROOT  # past the block's own steps

    def opening(self, record: GameRecord, side: Side = Side.DEFENDER) -> OpenOutputs:
        game = record.game
        lo = get_block_output(self.chain.store, game.lo)
        hi = self.block(game.hi)
        return OpenOutputs(
            side, lo.state_root, lo.block_hash, hi.header, len(self.step_roots(game.hi)) - 1 + self.extra_steps
        )

    def open_move(self, world: World, record: GameRecord, opening: OpenOutputs | None = None) -> GameMove:
        """The opening as a game_move (the L1 checks the header against the block it derived at that height)."""
        return GameMove(record.game_id, opening if opening is not None else self.opening(record))

    def step_witness(self, record: GameRecord) -> bytes:
        game = record.game
        assert game.disputed_header is not None
        number = game.disputed_header.number
        proof = compute_step_proof(self.chain.store, self.config_of(number), number, game.lo, game.step_count)
        assert proof.pre_root == game.lo_claim
        return proof.witness.encode()


def next_move(
    world: World,
    game_id: int,
    defender: View,
    challenger: View | None,
    prover: PrivateKey,
    defender_key: PrivateKey = PROPOSER,
    challenger_key: PrivateKey = CHALLENGER,
    stats: Stats | None = None,
) -> tuple[PrivateKey, Any] | None:
    """The next move of game `game_id` between two views (None: the game is over); `challenger` None disagrees."""
    record = world.game(game_id)
    game = record.game
    if not game.in_progress:
        return None
    if game.phase in (Phase.BLOCKS, Phase.STEPS) and game.mid_claim is None:
        return defender_key, GameMove(game_id, Claim(Side.DEFENDER, defender.root_at(record, game.mid)))
    if game.phase in (Phase.BLOCKS, Phase.STEPS):
        agree = challenger is not None and challenger.root_at(record, game.mid) == game.mid_claim
        return challenger_key, GameMove(game_id, Respond(Side.CHALLENGER, agree))
    if game.phase is Phase.OPENING:
        return defender_key, defender.open_move(world, record)
    witness = View(world.honest).step_witness(record)
    if stats is not None:
        stats.witness_bytes.append(len(witness))
    return prover, ProveStepTx(game_id, witness)


def play(
    world: World,
    game_id: int,
    defender: View,
    challenger: View | None,
    prover: PrivateKey,
    defender_key: PrivateKey = PROPOSER,
    stats: Stats | None = None,
    challenger_key: PrivateKey = CHALLENGER,
) -> Stats:
    """Play game `game_id` to its end, one move per L1 block; `challenger` None disagrees with everything."""
    stats = stats or Stats()
    while True:
        move = next_move(world, game_id, defender, challenger, prover, defender_key, challenger_key, stats)
        if move is None:
            return stats
        key, payload = move
        receipt = world.run(key, payload)
        stats.txs += 1
        stats.blocks += 1
        assert receipt.receipt.status == 1, (type(payload).__name__, receipt.receipt.error)


def play_together(
    world: World, games: list[tuple[int, View, View | None, PrivateKey, PrivateKey]], prover: PrivateKey
) -> None:
    """Play several games at once, every game's next move in the same L1 block (clocks run for all of them).

    Each entry: (game id, defender view, challenger view or None, defender key, challenger key)."""
    while True:
        moves = [next_move(world, g, d, c, prover, dk, ck) for g, d, c, dk, ck in games]
        sent = [(world.send(key, payload), type(payload).__name__) for key, payload in filter(None, moves)]
        if not sent:
            return
        world.mine()
        for tx_hash, name in sent:
            included = world.l1.get_receipt(tx_hash)
            assert included is not None and included.receipt.status == 1, (name, included and included.receipt.error)


def dispute(world: World, index: int, key: PrivateKey = CHALLENGER, bond: int = BOND) -> int:
    """Dispute output `index`; return the id of the (first) game this starts."""
    receipt = world.run(key, DisputeOutput(index), bond)
    assert receipt.receipt.status == 1, receipt.receipt.error
    return int(receipt.events[0].game_id)


def defend(world: World, index: int, key: PrivateKey, bond: int = BOND) -> list[int]:
    """Join the defence of output `index`; return the ids of the games this starts (one per challenger)."""
    receipt = world.run(key, DefendOutput(index), bond)
    assert receipt.receipt.status == 1, receipt.receipt.error
    return [int(e.game_id) for e in receipt.events if type(e).__name__ == "OutputDisputed"]


def expect_failure(world: World, key: PrivateKey, payload: Any, error: type, value: int = 0) -> str:
    """The transaction is included with status 0 and `error`'s code; return the error message."""
    receipt = world.run(key, payload, value).receipt
    assert receipt.status == 0, f"{type(payload).__name__} should fail with {error.__name__}"
    assert receipt.error_code == error.rpc_code, (receipt.error_code, receipt.error)  # type: ignore[attr-defined]
    return receipt.error or ""


def status_of(world: World, index: int) -> OutputStatus:
    output = get_output(world.l1.kv, index)
    assert output is not None
    return output.status


def output_root_of(view: View, number: int) -> bytes:
    out = get_block_output(view.chain.store, number)
    return compute_output_root(number, out.state_root, out.block_hash)


__all__ = [
    "BOND",
    "CHALLENGER",
    "CLOCK",
    "HELPER",
    "PROPOSER",
    "Stats",
    "USER",
    "View",
    "WINDOW",
    "World",
    "defend",
    "dispute",
    "expect_failure",
    "l1_params",
    "next_move",
    "play",
    "play_together",
    "replace",
    "status_of",
]
