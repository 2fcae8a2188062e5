"""Typed async client of the L1 devnet's JSON-RPC, for the sequencer, settler, executors and tests.

    async with L1Client("http://127.0.0.1:8545/") as l1:
        tx_hash = await l1.send_tx(key, PostBatch(data))
        # disputes / withdrawals: payloads of l1.contracts.payloads, e.g. send_tx(key, DisputeOutput(i), value=bond),
        # then get_game(game_id), get_withdrawal(withdrawal_id)
        receipt = await l1.wait_receipt(tx_hash, timeout=10)
        for block in await l1.get_derivation_data(first, 64):
            ...

Every result is a frozen dataclass; a reply that does not have the
documented shape raises L1ResponseError. Server-side errors arrive as
node.rpc.errors.RpcError subclasses (their `code` is the spec's code),
connection problems as RpcTransportError.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Callable, Mapping

from node.crypto import Address, CryptoError, Hash32, PrivateKey, parse_address, parse_hex
from node.rpc.client import RpcClient
from l1.chain.tx import sign_l1_tx


class L1ResponseError(ValueError):
    """The L1 node answered with something that is not the documented shape."""


class ReceiptTimeout(TimeoutError):
    """No receipt for the transaction within the timeout."""


# -- result types --


@dataclass(frozen=True, slots=True)
class L1Event:
    """One event of a block or receipt: `type` names it, `fields` holds its own JSON fields."""

    type: str
    log_index: int
    tx_hash: Hash32 | None
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class L1Block:
    number: int
    hash: Hash32
    parent_hash: Hash32
    timestamp_ms: int
    transactions: tuple[Hash32, ...]
    events: tuple[L1Event, ...]


@dataclass(frozen=True, slots=True)
class L1TxReceipt:
    tx_hash: Hash32
    block_number: int
    block_hash: Hash32
    index: int
    sender: Address
    kind: str
    status: int
    error: str | None
    error_code: int | None
    events: tuple[L1Event, ...]


@dataclass(frozen=True, slots=True)
class DepositEvent:
    log_index: int
    sender: Address
    to: Address
    amount: int


@dataclass(frozen=True, slots=True)
class ForcedTxEvent:
    log_index: int
    tx: bytes


@dataclass(frozen=True, slots=True)
class BatchEvent:
    log_index: int
    data: bytes


@dataclass(frozen=True, slots=True)
class DerivationBlock:
    number: int
    hash: Hash32
    timestamp_ms: int
    deposits: tuple[DepositEvent, ...]
    forced_txs: tuple[ForcedTxEvent, ...]
    batches: tuple[BatchEvent, ...]


@dataclass(frozen=True, slots=True)
class DisputeParty:
    address: Address
    bond: int
    wins: int
    beaten_by: int | None  # slot on the other side of the first party that beat it


@dataclass(frozen=True, slots=True)
class OutputProposal:
    index: int
    l2_block_number: int
    output_root: Hash32
    proposer: Address
    bond: int
    proposed_at: int
    finalizes_at: int
    status: str  # pending / disputed / finalized / defeated
    challengers: tuple[DisputeParty, ...] = ()  # once disputed
    defenders: tuple[DisputeParty, ...] = ()  # defender 0 is the proposer
    game_ids: tuple[int, ...] = ()
    open_games: int = 0

    def plays(self, address: bytes) -> bool:
        """Whether `address` is a party of this output's dispute (either side)."""
        return any(p.address == address for p in self.challengers + self.defenders)


@dataclass(frozen=True, slots=True)
class L1ChainInfo:
    chain_id: int
    block_time_ms: int
    batcher: Address
    proposer_bond: int
    challenge_window: int
    min_fee: int
    max_batch_bytes: int
    game_clock_blocks: int = 0
    l2_genesis_output_root: Hash32 | None = None
    rollup_chain_id: int | None = None  # None: the L1 has no [l1.rollup], disputes are disabled


@dataclass(frozen=True, slots=True)
class GameInfo:
    """A dispute game as l1_getGame shows it (l1.contracts.rpc). Clocks are L1 blocks left."""

    game_id: int
    output_index: int
    challenger: Address
    defender: Address
    status: str  # in_progress / challenger_won / defender_won
    phase: str  # blocks / opening / steps / one_step / over
    start_block: int
    end_block: int
    lo: int
    hi: int
    lo_claim: Hash32
    hi_claim: Hash32
    mid_claim: Hash32 | None
    turn: str  # defender / challenger
    turn_started_at: int
    clock_blocks: int
    clocks: Mapping[str, int]  # at the turn's start (the running turn not charged)
    clocks_now: Mapping[str, int]  # at L1 block clocks_at
    clocks_at: int
    bonds: Mapping[str, int]
    moves: int
    created_at: int
    resolved_at: int | None
    block_number: int | None  # the opened L2 block (step phases)
    step_count: int
    winner: Address | None
    raw: Mapping[str, Any]

    @property
    def in_progress(self) -> bool:
        return self.status == "in_progress"


@dataclass(frozen=True, slots=True)
class WithdrawalInfo:
    withdrawal_id: Hash32
    status: str  # proven / finalized
    output_index: int
    output_status: str | None
    l2_sender: Address
    recipient: Address
    amount: int
    l2_block_number: int
    proven_at: int
    finalized_at: int | None


# -- field parsers: each raises L1ResponseError naming the field --


def _field(obj: Any, key: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise L1ResponseError(f"L1 reply lacks field {key!r}: {str(obj)[:200]}")
    return obj[key]


def _int(obj: Any, key: str) -> int:
    value = _field(obj, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise L1ResponseError(f"L1 reply field {key!r} must be a non-negative integer, got {value!r}")
    return value


def _amount(obj: Any, key: str) -> int:
    value = _field(obj, key)
    if not isinstance(value, str) or not value.isdigit():
        raise L1ResponseError(f"L1 reply field {key!r} must be a decimal string, got {value!r}")
    return int(value)


def _bytes(value: Any, what: str, length: int | None = None) -> bytes:
    try:
        return parse_hex(value, length, what)
    except CryptoError as exc:
        raise L1ResponseError(f"L1 reply field {what!r}: {exc}") from None


def _hash(obj: Any, key: str) -> Hash32:
    return Hash32(_bytes(_field(obj, key), key, 32))


def _address(obj: Any, key: str) -> Address:
    try:
        return parse_address(_field(obj, key))
    except CryptoError as exc:
        raise L1ResponseError(f"L1 reply field {key!r}: {exc}") from None


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise L1ResponseError(f"L1 reply {what} must be an array, got {type(value).__name__}")
    return value


def parse_event(obj: Any) -> L1Event:
    tx_hash = _field(obj, "transactionHash")
    fields = {k: v for k, v in obj.items() if k not in ("type", "log_index", "transactionHash")}
    return L1Event(
        type=str(_field(obj, "type")),
        log_index=_int(obj, "log_index"),
        tx_hash=None if tx_hash is None else Hash32(_bytes(tx_hash, "transactionHash", 32)),
        fields=fields,
    )


def parse_block(obj: Any) -> L1Block:
    return L1Block(
        number=_int(obj, "number"),
        hash=_hash(obj, "hash"),
        parent_hash=_hash(obj, "parentHash"),
        timestamp_ms=_int(obj, "timestamp"),
        transactions=tuple(Hash32(_bytes(h, "transactions", 32)) for h in _list(_field(obj, "transactions"), "transactions")),
        events=tuple(parse_event(e) for e in _list(obj.get("events", []), "events")),
    )


def parse_receipt(obj: Any) -> L1TxReceipt:
    error_code = obj.get("errorCode") if isinstance(obj, dict) else None
    return L1TxReceipt(
        tx_hash=_hash(obj, "transactionHash"),
        block_number=_int(obj, "blockNumber"),
        block_hash=_hash(obj, "blockHash"),
        index=_int(obj, "transactionIndex"),
        sender=_address(obj, "from"),
        kind=str(_field(obj, "kind")),
        status=_int(obj, "status"),
        error=_field(obj, "error"),
        error_code=error_code if isinstance(error_code, int) else None,
        events=tuple(parse_event(e) for e in _list(_field(obj, "events"), "events")),
    )


def parse_derivation_block(obj: Any) -> DerivationBlock:
    return DerivationBlock(
        number=_int(obj, "number"),
        hash=_hash(obj, "hash"),
        timestamp_ms=_int(obj, "timestamp"),
        deposits=tuple(
            DepositEvent(_int(d, "log_index"), _address(d, "from"), _address(d, "to"), _amount(d, "amount"))
            for d in _list(_field(obj, "deposits"), "deposits")
        ),
        forced_txs=tuple(
            ForcedTxEvent(_int(f, "log_index"), _bytes(_field(f, "tx"), "tx"))
            for f in _list(_field(obj, "forced_txs"), "forced_txs")
        ),
        batches=tuple(
            BatchEvent(_int(b, "log_index"), _bytes(_field(b, "data"), "data"))
            for b in _list(_field(obj, "batches"), "batches")
        ),
    )


def parse_output(obj: Any) -> OutputProposal:
    return OutputProposal(
        index=_int(obj, "index"),
        l2_block_number=_int(obj, "l2BlockNumber"),
        output_root=_hash(obj, "outputRoot"),
        proposer=_address(obj, "proposer"),
        bond=_amount(obj, "bond"),
        proposed_at=_int(obj, "proposedAt"),
        finalizes_at=_int(obj, "finalizesAt"),
        status=str(_field(obj, "status")),
        **_parse_dispute(obj.get("dispute") if isinstance(obj, dict) else None),
    )


def _parse_dispute(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    return {
        "challengers": tuple(_parse_party(p) for p in _list(_field(obj, "challengers"), "challengers")),
        "defenders": tuple(_parse_party(p) for p in _list(_field(obj, "defenders"), "defenders")),
        "game_ids": tuple(_int({"game id": g}, "game id") for g in _list(_field(obj, "games"), "games")),
        "open_games": _int(obj, "openGames"),
    }


def _parse_party(obj: Any) -> DisputeParty:
    return DisputeParty(_address(obj, "address"), _amount(obj, "bond"), _int(obj, "wins"), _optional_int(obj, "beatenBy"))


def parse_chain_info(obj: Any) -> L1ChainInfo:
    return L1ChainInfo(
        chain_id=_int(obj, "chainId"),
        block_time_ms=_int(obj, "blockTimeMs"),
        batcher=_address(obj, "batcher"),
        proposer_bond=_amount(obj, "proposerBond"),
        challenge_window=_int(obj, "challengeWindow"),
        min_fee=_amount(obj, "minFee"),
        max_batch_bytes=_int(obj, "maxBatchBytes"),
        game_clock_blocks=_optional_int(obj, "gameClockBlocks") or 0,
        l2_genesis_output_root=_optional_hash(obj, "l2GenesisOutputRoot"),
        rollup_chain_id=_optional_int(obj.get("rollup") or {}, "chainId"),
    )


def _optional_int(obj: Any, key: str) -> int | None:
    if not isinstance(obj, dict) or obj.get(key) is None:
        return None
    return _int(obj, key)


def _optional_hash(obj: Any, key: str) -> Hash32 | None:
    if not isinstance(obj, dict) or obj.get(key) is None:
        return None
    return _hash(obj, key)


def _optional_address(obj: Any, key: str) -> Address | None:
    if not isinstance(obj, dict) or obj.get(key) is None:
        return None
    return _address(obj, key)


def _side_map(obj: Any, key: str, parse: Callable[[Any, str], int]) -> dict[str, int]:
    value = _field(obj, key)
    return {side: parse(value, side) for side in ("challenger", "defender")}


def _signed(obj: Any, key: str) -> int:
    value = _field(obj, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise L1ResponseError(f"L1 reply field {key!r} must be an integer, got {value!r}")
    return value


def parse_game(obj: Any) -> GameInfo:
    claims = _field(obj, "claims")
    return GameInfo(
        game_id=_int(obj, "gameId"),
        output_index=_int(obj, "outputIndex"),
        challenger=_address(obj, "challenger"),
        defender=_address(obj, "defender"),
        status=str(_field(obj, "status")),
        phase=str(_field(obj, "phase")),
        start_block=_int(obj, "startBlock"),
        end_block=_int(obj, "endBlock"),
        lo=_int(obj, "lo"),
        hi=_int(obj, "hi"),
        lo_claim=_hash(claims, "lo"),
        hi_claim=_hash(claims, "hi"),
        mid_claim=_optional_hash(claims, "mid"),
        turn=str(_field(obj, "turn")),
        turn_started_at=_int(obj, "turnStartedAt"),
        clock_blocks=_int(obj, "clockBlocks"),
        clocks=_side_map(obj, "clocks", _signed),
        clocks_now=_side_map(obj, "clocksNow", _signed),
        clocks_at=_int(obj, "clocksAt"),
        bonds=_side_map(obj, "bonds", _amount),
        moves=_int(obj, "moves"),
        created_at=_int(obj, "createdAt"),
        resolved_at=_optional_int(obj, "resolvedAt"),
        block_number=_optional_int(obj, "blockNumber"),
        step_count=_int(obj, "stepCount"),
        winner=_optional_address(obj, "winner"),
        raw=obj,
    )


def parse_withdrawal(obj: Any) -> WithdrawalInfo:
    output_status = obj.get("outputStatus") if isinstance(obj, dict) else None
    return WithdrawalInfo(
        withdrawal_id=_hash(obj, "withdrawalId"),
        status=str(_field(obj, "status")),
        output_index=_int(obj, "outputIndex"),
        output_status=None if output_status is None else str(output_status),
        l2_sender=_address(obj, "l2Sender"),
        recipient=_address(obj, "recipient"),
        amount=_amount(obj, "amount"),
        l2_block_number=_int(obj, "l2BlockNumber"),
        proven_at=_int(obj, "provenAt"),
        finalized_at=_optional_int(obj, "finalizedAt"),
    )


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _optional(value: Any, parse: Callable[[Any], Any]) -> Any:
    return None if value is None else parse(value)


class L1Client:
    """Async typed access to one L1 node."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.rpc = RpcClient(url, timeout)
        self._info: L1ChainInfo | None = None
        self._send_locks: dict[bytes, asyncio.Lock] = {}

    async def __aenter__(self) -> "L1Client":
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self.rpc.close()

    # -- reads --

    async def chain_id(self) -> int:
        return _int({"chainId": await self.rpc.call("l1_chainId")}, "chainId")

    async def block_number(self) -> int:
        return _int({"head": await self.rpc.call("l1_blockNumber")}, "head")

    async def get_block(self, tag: int | str = "latest") -> L1Block | None:
        return _optional(await self.rpc.call("l1_getBlockByNumber", tag), parse_block)

    async def get_block_by_hash(self, block_hash: bytes) -> L1Block | None:
        return _optional(await self.rpc.call("l1_getBlockByHash", _hex(block_hash)), parse_block)

    async def get_balance(self, address: bytes) -> int:
        return _amount({"balance": await self.rpc.call("l1_getBalance", _hex(address))}, "balance")

    async def get_nonce(self, address: bytes) -> int:
        """The next nonce for `address`, counting its transactions in the L1 mempool."""
        return _int({"nonce": await self.rpc.call("l1_getNonce", _hex(address))}, "nonce")

    async def get_receipt(self, tx_hash: bytes) -> L1TxReceipt | None:
        return _optional(await self.rpc.call("l1_getTransactionReceipt", _hex(tx_hash)), parse_receipt)

    async def get_derivation_data(self, from_block: int, count: int) -> list[DerivationBlock]:
        """Derivation inputs of existing blocks from `from_block`, at most `count` (<= 64)."""
        reply = await self.rpc.call("l1_getDerivationData", from_block, count)
        return [parse_derivation_block(b) for b in _list(reply, "derivation data")]

    async def get_outputs(self, from_index: int, count: int) -> list[OutputProposal]:
        reply = await self.rpc.call("l1_getOutputs", from_index, count)
        return [parse_output(o) for o in _list(reply, "outputs")]

    async def get_l2_head(self) -> int:
        """The newest L2 block the L1's inbox derives: outputs may only name blocks up to it."""
        return _int(await self.rpc.call("l1_getL2Head"), "number")

    async def get_games(self, from_id: int, count: int) -> list[GameInfo]:
        """Dispute games from id `from_id`, at most `count` (<= 256)."""
        reply = await self.rpc.call("l1_getGames", from_id, count)
        return [parse_game(g) for g in _list(reply, "games")]

    async def get_game(self, game_id: int) -> GameInfo | None:
        return _optional(await self.rpc.call("l1_getGame", game_id), parse_game)

    async def get_withdrawal(self, withdrawal_id: bytes) -> WithdrawalInfo | None:
        return _optional(await self.rpc.call("l1_getWithdrawal", _hex(withdrawal_id)), parse_withdrawal)

    async def get_withdrawals(self, from_index: int, count: int) -> list[WithdrawalInfo]:
        """Withdrawals in the order they were first proven, from `from_index`, at most `count` (<= 256)."""
        reply = await self.rpc.call("l1_getWithdrawals", from_index, count)
        return [parse_withdrawal(w) for w in _list(reply, "withdrawals")]

    async def config(self) -> L1ChainInfo:
        """The chain's parameters (fetched once, then cached)."""
        if self._info is None:
            self._info = parse_chain_info(await self.rpc.call("l1_config"))
        return self._info

    # -- writes --

    async def send_raw_transaction(self, raw: bytes) -> Hash32:
        return Hash32(_bytes(await self.rpc.call("l1_sendRawTransaction", _hex(raw)), "transaction hash", 32))

    async def send_tx(self, key: PrivateKey, payload: Any, value: int = 0, fee: int | None = None) -> Hash32:
        """Sign `payload` with the next nonce of `key` (min_fee unless `fee`) and submit it.

        Sends from one key through one client are serialized, so concurrent
        callers never reuse a nonce.
        """
        info = await self.config()
        lock = self._send_locks.setdefault(bytes(key.address), asyncio.Lock())
        async with lock:
            nonce = await self.get_nonce(key.address)
            tx = sign_l1_tx(key, info.chain_id, nonce, info.min_fee if fee is None else fee, value, payload)
            return await self.send_raw_transaction(tx.encode())

    async def wait_receipt(self, tx_hash: bytes, timeout: float = 30.0, poll_s: float = 0.1) -> L1TxReceipt:
        """Poll until the transaction is in a block; raise ReceiptTimeout after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            receipt = await self.get_receipt(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() >= deadline:
                raise ReceiptTimeout(f"no L1 receipt for 0x{bytes(tx_hash).hex()} within {timeout}s")
            await asyncio.sleep(poll_s)
