"""Typed async client of the L1 devnet's JSON-RPC, for the sequencer, settler, executors and tests.

    async with L1Client("http://127.0.0.1:8545/") as l1:
        tx_hash = await l1.send_tx(key, PostBatch(data))
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
from l1.tx import sign_l1_tx


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
class OutputProposal:
    index: int
    l2_block_number: int
    output_root: Hash32
    proposer: Address
    bond: int
    proposed_at: int
    finalizes_at: int
    status: str  # pending / finalized (later disputed / defeated)


@dataclass(frozen=True, slots=True)
class L1ChainInfo:
    chain_id: int
    block_time_ms: int
    batcher: Address
    proposer_bond: int
    challenge_window: int
    min_fee: int
    max_batch_bytes: int


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
    )


def parse_chain_info(obj: Any) -> L1ChainInfo:
    return L1ChainInfo(
        chain_id=_int(obj, "chainId"),
        block_time_ms=_int(obj, "blockTimeMs"),
        batcher=_address(obj, "batcher"),
        proposer_bond=_amount(obj, "proposerBond"),
        challenge_window=_int(obj, "challengeWindow"),
        min_fee=_amount(obj, "minFee"),
        max_batch_bytes=_int(obj, "maxBatchBytes"),
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
