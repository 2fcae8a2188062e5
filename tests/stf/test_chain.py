"""The chain layer: genesis, sealing, importing, proofs, historical state, pruning, recovery, reopening.

A sequencer chain seals a fixed pseudo-random run of blocks (deposits,
transfers, withdrawals, plus invalid candidates that must be left out) while a
plain-Python model tracks every account; an importer chain on its own store
replays the blocks and must agree on everything, and refuses tampered blocks
without changing its state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from node.block import Block, compute_tx_root, with_state_root
from node.chain import Chain, GenesisMismatch, NotNextBlock, StateRootMismatch, decode_receipt
from node.crypto import Address, PrivateKey
from node.recovery import SenderRecovery
from node.smt.hashing import hash_key
from node.smt.nodes import (
    NODE_PREFIX,
    ROOT_PREFIX,
    STALE_PREFIX,
    child_ref,
    decode_ref,
    decode_stale_list,
    node_key,
    root_key,
)
from node.smt.proof import Proof, ProofError, verify_proof
from node.smt.versioned import MissingVersionError
from node.state.schema import (
    SUPPLY_KEY,
    Account,
    WithdrawalRecord,
    account_key,
    encode_account,
    encode_supply,
    encode_withdrawal,
    get_account,
    get_supply,
    get_withdrawal,
    withdrawal_key,
)
from node.stf import (
    BadSignature,
    ChainConfig,
    DepositsNotFirst,
    FeeTooLow,
    InsufficientBalance,
    InvalidBlock,
    MalformedTransaction,
    NonceTooHigh,
    NonceTooLow,
    TxRootMismatch,
    WrongChainId,
    ZeroAmount,
    recover_transaction,
)
from node.store.chain import PRUNE_EVERY, ChainStore
from node.tx import DepositTx, RecoveredTx, Transfer, Withdrawal, sign_tx

CHAIN_ID = 901
KEYS = [PrivateKey((i + 1).to_bytes(32, "big")) for i in range(6)]
POOR_KEY = PrivateKey((99).to_bytes(32, "big"))  # never funded
FEE_RECIPIENT = Address(b"\xfe" * 20)
L1_SENDER = Address(b"\x11" * 20)
L1_RECIPIENT = Address(b"\x22" * 20)
FRESH = [Address(bytes([0xA0 + i]) * 20) for i in range(4)]  # receive only
NEVER_USED = Address(b"\x5a" * 20)
TARGETS = [k.address for k in KEYS] + FRESH + [FEE_RECIPIENT]  # what transfers and deposits pay to
ADDRESSES = TARGETS + [POOR_KEY.address]
ALLOC = {k.address: 1_000_000 + i for i, k in enumerate(KEYS)}
CONFIG = ChainConfig(chain_id=CHAIN_ID, fee_recipient=FEE_RECIPIENT, min_fee=3)
N_BLOCKS = 16


def new_chain(path: Path, alloc: dict[bytes, int] = ALLOC, **store_kw: int) -> Chain:
    chain = Chain(ChainStore(path, **store_kw), CONFIG)
    chain.init_genesis(alloc)
    return chain


def rtx_of(key: PrivateKey, nonce: int, payload: object, fee: int = 3, chain_id: int = CHAIN_ID) -> RecoveredTx:
    return recover_transaction(sign_tx(key, chain_id, nonce, fee, payload).encode())


def recover_block(block: Block) -> list[RecoveredTx]:
    return [recover_transaction(raw) for raw in block.transactions]


@dataclass
class Model:
    """Expected state, tracked by hand from what each block includes."""

    balances: dict[bytes, int] = field(default_factory=lambda: dict(ALLOC))
    nonces: dict[bytes, int] = field(default_factory=dict)
    supply: int = sum(ALLOC.values())
    withdrawals: dict[bytes, WithdrawalRecord] = field(default_factory=dict)

    def account(self, address: bytes) -> Account:
        return Account(self.balances.get(address, 0), self.nonces.get(address, 0))

    def apply(self, rtx: RecoveredTx, number: int) -> None:
        tx = rtx.tx
        if isinstance(tx, DepositTx):
            self.balances[tx.to] = self.balances.get(tx.to, 0) + tx.amount
            self.supply += tx.amount
            return
        sender = rtx.sender
        self.balances[sender] -= tx.fee + tx.payload.amount
        self.nonces[sender] = self.nonces.get(sender, 0) + 1
        self.balances[FEE_RECIPIENT] = self.balances.get(FEE_RECIPIENT, 0) + tx.fee
        if isinstance(tx.payload, Transfer):
            self.balances[tx.payload.to] = self.balances.get(tx.payload.to, 0) + tx.payload.amount
        else:
            self.supply -= tx.payload.amount
            self.withdrawals[rtx.hash] = WithdrawalRecord(sender, tx.payload.l1_recipient, tx.payload.amount, number)

    def snapshot(self) -> Model:
        return Model(dict(self.balances), dict(self.nonces), self.supply, dict(self.withdrawals))


@dataclass
class Run:
    chain: Chain
    blocks: list[Block]  # index = block number (0 = genesis)
    sealed: dict[int, object]
    models: list[Model]  # state after each block
    included: list[list[RecoveredTx]]
    rejected: list[list[tuple[RecoveredTx, type]]]


def _make_block_inputs(
    rng: random.Random, model: Model, number: int
) -> tuple[list[DepositTx], list[RecoveredTx], list[RecoveredTx], list[tuple[RecoveredTx, type]]]:
    """(deposits, candidates, the valid ones in order, [(invalid candidate, expected error)])."""
    deposits = [
        DepositTx(number, i, L1_SENDER, rng.choice(TARGETS), rng.randint(0, 5_000)) for i in range(rng.randint(0, 2))
    ]
    valid: list[RecoveredTx] = []
    invalid: list[tuple[RecoveredTx, type]] = []
    candidates: list[RecoveredTx] = []
    nonces = dict(model.nonces)
    for _ in range(rng.randint(3, 8)):
        key = rng.choice(KEYS)
        nonce = nonces.get(key.address, 0)
        if rng.random() < 0.3:
            payload: object = Withdrawal(L1_RECIPIENT, rng.randint(1, 2_000))
        else:
            payload = Transfer(rng.choice(TARGETS), rng.randint(1, 2_000))
        rtx = rtx_of(key, nonce, payload, fee=rng.randint(3, 9))
        nonces[key.address] = nonce + 1
        valid.append(rtx)
        candidates.append(rtx)
        if rng.random() < 0.4:  # an invalid candidate in between
            bad_key = rng.choice(KEYS)
            bad_nonce = nonces.get(bad_key.address, 0)
            kind = rng.randrange(7)
            if kind == 0:
                bad = (rtx_of(bad_key, bad_nonce + 1, Transfer(FRESH[1], 1)), NonceTooHigh)
            elif kind == 1:
                bad = (rtx_of(bad_key, bad_nonce, Transfer(FRESH[1], 1), fee=2), FeeTooLow)
            elif kind == 2:
                bad = (rtx_of(bad_key, bad_nonce, Transfer(FRESH[1], 1), chain_id=CHAIN_ID + 1), WrongChainId)
            elif kind == 3:
                bad = (rtx_of(bad_key, bad_nonce, Transfer(FRESH[1], 0)), ZeroAmount)
            elif kind == 4:
                bad = (rtx_of(bad_key, bad_nonce, Withdrawal(L1_RECIPIENT, 10**12)), InsufficientBalance)
            elif kind == 5:
                bad = (rtx_of(POOR_KEY, 0, Transfer(FRESH[1], 1)), InsufficientBalance)
            else:  # a deposit submitted as a candidate
                dep = DepositTx(number, 99, L1_SENDER, FRESH[1], 1)
                bad = (recover_transaction(dep.encode()), MalformedTransaction)
            invalid.append(bad)
            candidates.append(bad[0])
    if number > 1 and rng.random() < 0.5:  # a replay of an already included transaction
        replay_key = rng.choice(KEYS)
        if model.nonces.get(replay_key.address, 0) > 0:
            bad = (rtx_of(replay_key, 0, Transfer(FRESH[2], 1)), NonceTooLow)
            invalid.append(bad)
            candidates.append(bad[0])
    return deposits, candidates, valid, invalid


def seal_run(path: Path, seed: int = 7, n_blocks: int = N_BLOCKS, **store_kw: int) -> Run:
    rng = random.Random(seed)
    chain = new_chain(path, **store_kw)
    model = Model()
    run = Run(chain, [chain.store.get_block(0)], {}, [model.snapshot()], [[]], [[]])  # type: ignore[list-item]
    for number in range(1, n_blocks + 1):
        deposits, candidates, valid, invalid = _make_block_inputs(rng, model, number)
        sealed, build = chain.seal_block(
            candidates, 1_000 * number, (number // 3, bytes([number // 3]) * 32), deposits=deposits
        )
        assert [r.hash for r in build.included] == [r.hash for r in valid]
        assert [(r.rtx.hash, type(r.error)) for r in build.rejected] == [(r.hash, t) for r, t in invalid]
        assert build.deferred == ()
        assert len(build.transactions) == len(deposits) + len(valid)
        for rtx in build.transactions:
            model.apply(rtx, number)
        assert sealed.head.number == number and sealed.block.number == number
        run.blocks.append(sealed.block)
        run.sealed[number] = sealed
        run.models.append(model.snapshot())
        run.included.append(list(build.transactions))
        run.rejected.append(invalid)
    return run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return seal_run(tmp_path_factory.mktemp("sequencer"))


def assert_state_matches(store: ChainStore, model: Model, number: int | None = None) -> None:
    reader = store.latest_state() if number is None else store.state_at(number)
    for address in ADDRESSES + [NEVER_USED]:
        assert get_account(reader, address) == model.account(address), address.hex()
    assert get_supply(reader) == model.supply
    assert sum(model.balances.values()) == model.supply
    for wid, record in model.withdrawals.items():
        assert get_withdrawal(reader, wid) == record


# -- genesis -----------------------------------------------------------------------


def test_genesis_balances_supply_and_idempotence(tmp_path: Path) -> None:
    chain = new_chain(tmp_path / "g")
    store = chain.store
    head = chain.head()
    assert head.number == 0
    block = store.get_block(0)
    assert block is not None and block.transactions == () and block.hash() == head.hash
    assert block.header.state_root == head.state_root == store.tree.root_hash(0)
    state = store.latest_state()
    for address, balance in ALLOC.items():
        assert get_account(state, address) == Account(balance, 0)
    assert get_account(state, NEVER_USED) == Account(0, 0)
    assert get_supply(state) == sum(ALLOC.values())
    assert store.get_receipts(0) == []

    assert chain.init_genesis(ALLOC) == head  # same alloc: nothing changes
    assert chain.init_genesis(dict(reversed(list(ALLOC.items())))) == head  # order does not matter
    assert store.head() == head
    with pytest.raises(GenesisMismatch):
        chain.init_genesis({**ALLOC, NEVER_USED: 1})
    with pytest.raises(GenesisMismatch):
        chain.init_genesis(ALLOC, timestamp_ms=1)
    assert store.head() == head
    assert get_supply(store.latest_state()) == sum(ALLOC.values())

    # the same genesis in another directory gives the same block; a different one does not
    other = new_chain(tmp_path / "g2")
    assert other.head() == head
    third = new_chain(tmp_path / "g3", alloc={NEVER_USED: 5})
    assert third.head().hash != head.hash and third.head().state_root != head.state_root
    for c in (chain, other, third):
        c.store.close()


# -- sealing and importing -----------------------------------------------------------


def test_sealed_state_matches_model_at_every_height(run: Run) -> None:
    store = run.chain.store
    assert_state_matches(store, run.models[-1])
    for number in range(N_BLOCKS + 1):
        assert_state_matches(store, run.models[number], number)
    assert sum(len(r) for r in run.rejected) > 0
    assert any(isinstance(r.tx, DepositTx) for txs in run.included for r in txs)
    assert any(isinstance(getattr(r.tx, "payload", None), Withdrawal) for txs in run.included for r in txs)


def test_importer_replays_the_sequencer_exactly(run: Run, tmp_path: Path) -> None:
    importer = new_chain(tmp_path / "importer")
    seq_store, imp_store = run.chain.store, importer.store
    assert importer.head().number == 0 and importer.head().hash == run.blocks[0].hash()
    for number in range(1, N_BLOCKS + 1):
        block = run.blocks[number]
        sealed = importer.import_block(block, recover_block(block))
        assert sealed.head == run.sealed[number].head  # type: ignore[attr-defined]
        assert sealed.receipts == run.sealed[number].receipts  # type: ignore[attr-defined]
    assert importer.head() == seq_store.head()
    for number in range(N_BLOCKS + 1):
        seq_block, imp_block = seq_store.get_block(number), imp_store.get_block(number)
        assert seq_block == imp_block == run.blocks[number]
        assert imp_store.get_block_number(imp_block.hash()) == number  # type: ignore[union-attr]
        assert imp_store.tree.root_hash(number) == seq_store.tree.root_hash(number) == imp_block.header.state_root  # type: ignore[union-attr]
        if number > 0:
            assert imp_block.header.parent_hash == run.blocks[number - 1].hash()  # type: ignore[union-attr]
        # receipts: stored, decodable, identical on both sides and consistent with the block
        raw_receipts = imp_store.get_receipts(number)
        assert raw_receipts == seq_store.get_receipts(number)
        receipts = [decode_receipt(r) for r in raw_receipts]
        if number > 0:
            assert tuple(receipts) == run.sealed[number].receipts  # type: ignore[attr-defined]
        assert len(receipts) == len(run.included[number])
        for index, (receipt, rtx) in enumerate(zip(receipts, run.included[number])):
            assert receipt.tx_hash == rtx.hash and receipt.index == index and receipt.block_number == number
            assert receipt.status == 1
            if isinstance(rtx.tx, DepositTx):
                assert (receipt.kind, receipt.fee) == ("deposit", 0)
            else:
                assert (receipt.kind, receipt.fee) == (rtx.tx.payload.NAME, rtx.tx.fee)
            # tx index
            assert imp_store.get_tx_location(rtx.hash) == seq_store.get_tx_location(rtx.hash) == (number, index)
        for rtx, _ in run.rejected[number]:
            if not isinstance(rtx.tx, DepositTx) and rtx.tx.nonce == 0 and run.models[number].nonces.get(rtx.sender):
                continue  # a replay shares its hash with the included original
            assert imp_store.get_tx_location(rtx.hash) is None
    assert_state_matches(imp_store, run.models[-1])
    assert_state_matches(imp_store, run.models[N_BLOCKS // 2], N_BLOCKS // 2)
    imp_store.close()


@pytest.fixture
def importer_at_3(run: Run, tmp_path: Path) -> Chain:
    importer = new_chain(tmp_path / "imp3")
    for number in range(1, 4):
        importer.import_block(run.blocks[number], recover_block(run.blocks[number]))
    yield importer  # type: ignore[misc]
    importer.store.close()


def _snapshot(store: ChainStore) -> tuple[object, ...]:
    state = store.latest_state()
    return (
        store.head(),
        tuple(get_account(state, a) for a in ADDRESSES),
        get_supply(state),
        store.tree.has_version(4),
        store.get_block(4),
        store.get_receipts(4),
    )


def test_import_rejects_wrong_state_root_and_changes_nothing(run: Run, importer_at_3: Chain) -> None:
    store = importer_at_3.store
    before = _snapshot(store)
    good = run.blocks[4]
    bad = with_state_root(good, b"\x11" * 32)
    with pytest.raises(StateRootMismatch) as info:
        importer_at_3.import_block(bad, recover_block(bad))
    assert info.value.number == 4 and info.value.claimed == b"\x11" * 32
    assert info.value.computed == good.header.state_root
    assert _snapshot(store) == before
    assert store.get_block_number(bad.hash()) is None
    for rtx in run.included[4]:
        assert store.get_tx_location(rtx.hash) is None
    assert_state_matches(store, run.models[3])
    # the right block still imports afterwards
    assert importer_at_3.import_block(good, recover_block(good)).head == run.sealed[4].head  # type: ignore[attr-defined]
    assert_state_matches(store, run.models[4])


def test_import_rejects_blocks_that_do_not_extend_the_head(run: Run, importer_at_3: Chain) -> None:
    store = importer_at_3.store
    before = _snapshot(store)
    good = run.blocks[4]
    cases = [
        run.blocks[5],  # skips a block
        run.blocks[3],  # already imported
        run.blocks[2],
        Block(replace(good.header, parent_hash=run.blocks[2].hash()), good.transactions),  # wrong parent
        Block(replace(good.header, number=5), good.transactions),  # right parent, wrong number
    ]
    for block in cases:
        with pytest.raises(NotNextBlock):
            importer_at_3.import_block(block, recover_block(block))
        assert _snapshot(store) == before


def test_import_skips_an_invalid_transaction_and_rejects_tx_root_mismatch(run: Run, importer_at_3: Chain) -> None:
    store = importer_at_3.store
    before = _snapshot(store)
    good = run.blocks[4]
    assert good.transactions, "block 4 must hold transactions for this test"
    model = run.models[3]
    key = KEYS[0]
    invalid = rtx_of(key, model.nonces.get(key.address, 0) + 50, Transfer(FRESH[0], 1))  # nonce far too high
    rtxs = recover_block(good) + [invalid]
    header = replace(good.header, tx_root=compute_tx_root([r.hash for r in rtxs]))
    block = Block(header, tuple(r.raw for r in rtxs))
    # What a block holds is L1's business; an invalid transaction is skipped: no effect, a status-0 receipt.
    imported = importer_at_3.import_block(block, rtxs)
    assert imported.head.state_root == run.sealed[4].head.state_root  # type: ignore[attr-defined]
    skipped = imported.receipts[-1]
    assert (skipped.status, skipped.fee, skipped.error) == (0, 0, NonceTooHigh.rpc_code)
    assert all(r.status == 1 for r in imported.receipts[:-1])
    importer_at_3.store.rewind_to(3)
    assert _snapshot(store) == before

    # transactions that do not match the header's tx_root: one dropped, or reordered
    dropped = Block(good.header, good.transactions[:-1])
    with pytest.raises(TxRootMismatch):
        importer_at_3.import_block(dropped, recover_block(dropped))
    assert _snapshot(store) == before
    if len(good.transactions) > 1:
        swapped = Block(good.header, good.transactions[1:] + good.transactions[:1])
        with pytest.raises((TxRootMismatch, DepositsNotFirst)):
            importer_at_3.import_block(swapped, recover_block(swapped))
        assert _snapshot(store) == before

    # a deposit after a signed transaction
    deposit = recover_transaction(DepositTx(4, 7, L1_SENDER, FRESH[0], 1).encode())
    signed = rtx_of(key, model.nonces.get(key.address, 0), Transfer(FRESH[0], 1))
    rtxs = [signed, deposit]
    block = Block(replace(good.header, tx_root=compute_tx_root([r.hash for r in rtxs])), tuple(r.raw for r in rtxs))
    with pytest.raises(DepositsNotFirst):
        importer_at_3.import_block(block, rtxs)
    assert _snapshot(store) == before
    assert importer_at_3.import_block(good, recover_block(good)).head == run.sealed[4].head  # type: ignore[attr-defined]


def test_import_rejects_rtxs_that_are_not_the_blocks_transactions(run: Run, importer_at_3: Chain) -> None:
    good = run.blocks[4]
    assert len(good.transactions) > 1
    body_differs = Block(good.header, good.transactions[:1])
    with pytest.raises((InvalidBlock, ValueError)):
        importer_at_3.import_block(body_differs, recover_block(good))


def test_empty_genesis_and_empty_blocks(tmp_path: Path) -> None:
    seq, imp = new_chain(tmp_path / "s", alloc={}), new_chain(tmp_path / "i", alloc={})
    try:
        assert seq.head() == imp.head()
        assert get_supply(seq.store.latest_state()) == 0
        deposit = DepositTx(1, 0, L1_SENDER, FRESH[0], 5)
        blocks = [
            seq.seal_block([], 1, (0, bytes(32)))[0],
            seq.seal_block([], 2, (1, bytes(32)), deposits=[deposit])[0],
            seq.seal_block([], 3, (1, bytes(32)))[0],
        ]
        assert blocks[0].head.state_root == blocks[0].block.header.state_root == seq.store.tree.root_hash(0)
        assert blocks[2].head.state_root == blocks[1].head.state_root
        for sealed in blocks:
            assert imp.import_block(sealed.block, recover_block(sealed.block)).head == sealed.head
        state = imp.store.latest_state()
        assert get_supply(state) == 5 and get_account(state, FRESH[0]) == Account(5, 0)
        assert imp.store.get_tx_location(deposit.hash()) == (2, 0)
    finally:
        seq.store.close()
        imp.store.close()


# -- proofs and historical state --------------------------------------------------------


def test_proofs_verify_at_latest_and_older_heights(run: Run) -> None:
    store = run.chain.store
    for number in (N_BLOCKS, N_BLOCKS - 1, N_BLOCKS // 2, 1, 0):
        root = run.blocks[number].header.state_root
        model = run.models[number]
        for address in ADDRESSES:
            key = account_key(address)
            value, proof = store.prove(key, number)
            account = model.account(address)
            assert value == (None if account.is_empty() else encode_account(account))
            verify_proof(root, hash_key(key), value, proof)
            assert Proof.decode(proof.encode()) == proof
            if value is not None:  # a wrong value or a claimed absence does not verify
                with pytest.raises(ProofError):
                    verify_proof(
                        root, hash_key(key), encode_account(Account(account.balance + 1, account.nonce)), proof
                    )
                with pytest.raises(ProofError):
                    verify_proof(root, hash_key(key), None, proof)
        value, proof = store.prove(SUPPLY_KEY, number)
        assert value == encode_supply(model.supply)
        verify_proof(root, hash_key(SUPPLY_KEY), value, proof)
        for wid, record in model.withdrawals.items():
            value, proof = store.prove(withdrawal_key(wid), number)
            assert value == encode_withdrawal(record)
            verify_proof(root, hash_key(withdrawal_key(wid)), value, proof)
        # exclusion proof for an address that never held anything
        value, proof = store.prove(account_key(NEVER_USED), number)
        assert value is None
        verify_proof(root, hash_key(account_key(NEVER_USED)), None, proof)
        with pytest.raises(ProofError):
            verify_proof(root, hash_key(account_key(NEVER_USED)), encode_account(Account(1, 0)), proof)
    # a proof from one height does not verify against another height's root when the value changed
    sender = KEYS[0].address
    old_value, old_proof = store.prove(account_key(sender), 1)
    if run.models[1].account(sender) != run.models[N_BLOCKS].account(sender):
        with pytest.raises(ProofError):
            verify_proof(run.blocks[N_BLOCKS].header.state_root, hash_key(account_key(sender)), old_value, old_proof)
    with pytest.raises(MissingVersionError):
        store.prove(account_key(sender), N_BLOCKS + 1)
    with pytest.raises(MissingVersionError):
        store.state_at(N_BLOCKS + 1)


# -- pruning --------------------------------------------------------------------------


def _keys(store: ChainStore, prefix: bytes) -> set[bytes]:
    return {k for k, _ in store.kv.scan(prefix, prefix + b"\xff" * 64)}


def _reachable(store: ChainStore, version: int) -> set[bytes]:
    """Node keys reachable from the root of `version`."""
    out: set[bytes] = set()
    stack = [(decode_ref(store.kv.get(root_key(version))), b"")]  # type: ignore[arg-type]
    while stack:
        ref, path = stack.pop()
        if ref is None:
            continue
        key = node_key(ref.version, path)
        if key in out:
            continue
        out.add(key)
        if not ref.is_leaf:
            node = store.kv.get(key)
            assert node is not None, f"node {key.hex()} is missing"
            for slot in range(16):
                stack.append((child_ref(node, slot), path + bytes((slot,))))
    return out


def test_pruning_beyond_history_window(tmp_path: Path) -> None:
    window = 8
    rng = random.Random(3)
    chain = new_chain(tmp_path / "pruned", history_window=window)
    store = chain.store
    model = Model()
    models = [model.snapshot()]
    roots = [chain.head().state_root]

    def seal_next() -> None:
        number = chain.head().number + 1
        rtxs = []
        for key in rng.sample(KEYS, 3):
            nonce = model.nonces.get(key.address, 0)
            rtxs.append(rtx_of(key, nonce, Transfer(rng.choice(TARGETS), rng.randint(1, 50))))
        deposits = [DepositTx(number, 0, L1_SENDER, rng.choice(FRESH), 10)] if number % 5 == 0 else []
        sealed, build = chain.seal_block(rtxs, number, (0, bytes(32)), deposits=deposits)
        assert not build.rejected
        for rtx in build.transactions:
            model.apply(rtx, number)
        models.append(model.snapshot())
        roots.append(sealed.head.state_root)

    def check_pruned(keep_from: int) -> None:
        head = chain.head().number
        assert store.pruned_below() == keep_from
        for number in (0, keep_from // 2, keep_from - 1):
            with pytest.raises(MissingVersionError):
                store.state_at(number)
            with pytest.raises(MissingVersionError):
                store.prove(account_key(KEYS[0].address), number)
            assert store.get_block(number) is not None  # blocks are kept, only state is pruned
        for number in range(keep_from, head + 1):
            assert_state_matches(store, models[number], number)
            for address in (KEYS[1].address, FRESH[0], NEVER_USED):
                value, proof = store.prove(account_key(address), number)
                verify_proof(roots[number], hash_key(account_key(address)), value, proof)
        assert {int.from_bytes(k[1:], "big") for k in _keys(store, ROOT_PREFIX)} == set(range(keep_from, head + 1))
        # on disk: exactly the nodes some retained version still needs, no stale index below the window
        reachable = set().union(*(_reachable(store, v) for v in range(keep_from, head + 1)))
        assert _keys(store, NODE_PREFIX) == reachable
        assert all(int.from_bytes(k[1:9], "big") > keep_from for k in _keys(store, STALE_PREFIX))

    while chain.head().number < PRUNE_EVERY - 1:
        seal_next()
    assert store.pruned_below() == 0
    assert store.state_at(0) is not None
    nodes_before = _keys(store, NODE_PREFIX)
    doomed = {
        node
        for k in _keys(store, STALE_PREFIX)
        if int.from_bytes(k[1:9], "big") <= PRUNE_EVERY - window
        for node in decode_stale_list(store.kv.get(k))  # type: ignore[arg-type]
    }
    assert doomed and doomed <= nodes_before
    seal_next()  # block PRUNE_EVERY: prunes versions below PRUNE_EVERY - window
    assert chain.head().number == PRUNE_EVERY
    nodes_after = _keys(store, NODE_PREFIX)
    assert not (doomed & nodes_after)
    assert len(nodes_after) < len(nodes_before)
    check_pruned(PRUNE_EVERY - window)

    while chain.head().number < 2 * PRUNE_EVERY + 3:  # a second pruning round, then a few more blocks
        seal_next()
    check_pruned(2 * PRUNE_EVERY - window)
    assert_state_matches(store, models[-1])
    # pruning survives a reopen
    store.close()
    reopened = ChainStore(tmp_path / "pruned", history_window=window)
    try:
        assert reopened.pruned_below() == 2 * PRUNE_EVERY - window
        with pytest.raises(MissingVersionError):
            reopened.state_at(2 * PRUNE_EVERY - window - 1)
        assert_state_matches(reopened, models[-1], reopened.head().number)  # type: ignore[union-attr]
    finally:
        reopened.close()


# -- sender recovery -----------------------------------------------------------------


def _recovery_batch(n: int) -> list[bytes]:
    raws = [DepositTx(1, i, L1_SENDER, FRESH[i % 4], 10 + i).encode() for i in range(3)]
    nonces = [0] * len(KEYS)
    for i in range(n - len(raws)):
        k = i % len(KEYS)
        payload = Withdrawal(L1_RECIPIENT, 1 + i) if i % 7 == 0 else Transfer(TARGETS[i % len(TARGETS)], 1 + i)
        raws.append(sign_tx(KEYS[k], CHAIN_ID, nonces[k], 3, payload).encode())
        nonces[k] += 1
    return raws


def test_sender_recovery_pool_matches_in_process() -> None:
    raws = _recovery_batch(300)
    expected = [recover_transaction(raw) for raw in raws]
    bad_sig = bytearray(raws[150])
    bad_sig[-1] = 5  # recovery id out of range: still decodes, does not recover
    bad_raws = raws[:150] + [bytes(bad_sig)] + raws[151:]
    with pytest.raises(BadSignature) as direct:
        recover_transaction(bytes(bad_sig))
    with SenderRecovery(workers=2) as pool, SenderRecovery(workers=0) as local:
        got = pool.recover(raws)
        assert got == expected == local.recover(raws)
        assert [r.sender for r in got[3:]] == [KEYS[i % len(KEYS)].address for i in range(297)]
        assert [r.sender for r in got[:3]] == [L1_SENDER] * 3
        assert SenderRecovery.assemble(raws, pool.recover_senders_async(raws).result_list()) == expected
        with pytest.raises(BadSignature) as pooled:
            pool.recover(bad_raws)
        assert type(pooled.value) is type(direct.value) and str(pooled.value) == str(direct.value)
        with pytest.raises(BadSignature):
            local.recover(bad_raws)
        assert pool.recover(raws[:10]) == expected[:10]  # small batches run in-process


# -- reopening ------------------------------------------------------------------------


def test_reopen_after_close_gives_same_head_and_state(tmp_path: Path) -> None:
    path = tmp_path / "reopen"
    run = seal_run(path, seed=11, n_blocks=4)
    store = run.chain.store
    head = store.head()
    receipts = store.get_receipts(4)
    store.close()
    chain = new_chain(path)  # init_genesis on an existing directory is a no-op
    try:
        assert chain.head() == head
        assert chain.store.get_block(4) == run.blocks[4]
        assert chain.store.get_receipts(4) == receipts
        assert chain.store.tree.root_hash(4) == head.state_root  # type: ignore[union-attr]
        assert_state_matches(chain.store, run.models[4])
        for number in range(5):
            assert_state_matches(chain.store, run.models[number], number)
        # and the chain continues on top
        key = KEYS[2]
        model = run.models[4].snapshot()
        rtx = rtx_of(key, model.nonces.get(key.address, 0), Transfer(FRESH[3], 7))
        sealed, build = chain.seal_block([rtx], 99_000, (9, bytes(32)))
        assert build.included == (rtx,)
        model.apply(rtx, 5)
        assert sealed.block.header.parent_hash == head.hash  # type: ignore[union-attr]
        assert_state_matches(chain.store, model)
    finally:
        chain.store.close()
