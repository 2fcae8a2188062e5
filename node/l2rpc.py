"""The read side of the L2 JSON-RPC, shared by the sequencer and the executors.

Block tags: a number, "latest"/"pending" (the unsafe head), "safe",
"finalized", "earliest" (0). State is read at the requested block: the
newest from the flat table, older ones by walking their root (they stay
available for the store's history window; older ones answer -32004).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

from node.block import Block
from node.chain import Chain, decode_receipt, receipt_to_json
from node.crypto import CryptoError, keccak256, to_checksum_address
from node.encoding import DecodeError
from node.output import compute_output_root
from node.rpc.errors import InvalidParams, LimitExceeded, ResourceNotFound
from node.rpc.params import address, block_tag, boolean, hash32, positional, uint
from node.rpc.server import RpcServer
from node.smt.hashing import hash_key
from node.smt.versioned import MissingVersionError
from node.state.schema import account_key, decode_account
from node.state.view import StateReader
from node.stf.execute import INVALID_KIND_NAME
from node.store.chain import Head
from node.tx import BalanceOverrideTx, DepositTx, SignedTx, decode_tx
from node.venue.rpc import register_venue_read_methods

MAX_RANGE_BLOCKS = 256
MAX_RANGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Heads:
    unsafe: Head
    safe: Head
    finalized: Head


class ReadableNode(Protocol):
    @property
    def chain(self) -> Chain: ...

    def heads(self) -> Heads: ...

    def l1_head(self) -> int: ...


def head_json(head: Head) -> dict[str, Any]:
    return {"number": head.number, "hash": _hex(head.hash), "stateRoot": _hex(head.state_root)}


def register_read_methods(server: RpcServer, node: ReadableNode) -> None:
    reader = _Reader(node)
    for name in (
        "chainId",
        "getTransactionReceipt",
        "getTransactionByHash",
        "getBalance",
        "getNonce",
        "getBlockByNumber",
        "getProof",
        "syncStatus",
        "getBlockRange",
        "getBatchBlocks",
        "outputAtBlock",
    ):
        server.register("rollup_" + name, getattr(reader, name))
    register_venue_read_methods(server, reader)  # the venue's reads


class _Reader:
    def __init__(self, node: ReadableNode) -> None:
        self.node = node

    @property
    def chain(self) -> Chain:
        return self.node.chain

    # -- helpers ----------------------------------------------------------------------

    def resolve(self, tag: int | str) -> int:
        heads = self.node.heads()
        named = {"latest": heads.unsafe, "pending": heads.unsafe, "safe": heads.safe, "finalized": heads.finalized}
        if isinstance(tag, str):
            if tag == "earliest":
                return 0
            return named[tag].number
        if tag > heads.unsafe.number:
            raise ResourceNotFound(f"block {tag} not found (head is {heads.unsafe.number})")
        return tag

    def state(self, number: int) -> StateReader:
        if number == self.chain.head().number:
            return self.chain.store.latest_state()
        try:
            return self.chain.store.state_at(number)
        except MissingVersionError:
            raise ResourceNotFound(
                f"state at block {number} is pruned (history window {self.chain.store.history_window} blocks)"
            ) from None

    def block(self, number: int) -> Block:
        block = self.chain.store.get_block(number)
        if block is None:
            raise ResourceNotFound(f"block {number} not found")
        return block

    # -- methods ------------------------------------------------------------------------

    def chainId(self, params: list[Any]) -> int:
        positional(params, 0, 0, "rollup_chainId")
        return self.chain.config.chain_id

    def getBalance(self, params: list[Any]) -> str:
        addr, number = self._address_at(params, "rollup_getBalance")
        return str(decode_account_or_zero(self.state(number), addr)[0])

    def getNonce(self, params: list[Any]) -> int:
        addr, number = self._address_at(params, "rollup_getNonce")
        return decode_account_or_zero(self.state(number), addr)[1]

    def _address_at(self, params: list[Any], method: str) -> tuple[bytes, int]:
        args = positional(params, 1, 1, method)
        addr = address(args[0], "address")
        number = self.resolve(block_tag(args[1], "block") if len(args) > 1 else "latest")
        return addr, number

    def getProof(self, params: list[Any]) -> dict[str, Any]:
        addr, number = self._address_at(params, "rollup_getProof")
        self.state(number)  # the pruning check and its clear error
        key = account_key(addr)
        value, proof = self.chain.store.prove(key, number)
        balance, nonce = decode_account_or_zero_raw(value)
        return {
            "address": to_checksum_address(addr),
            "blockNumber": number,
            "stateRoot": _hex(self.block(number).header.state_root),
            "key": _hex(key),
            "keyHash": _hex(hash_key(key)),
            "value": _hex(value) if value is not None else None,
            "balance": str(balance),
            "nonce": nonce,
            "proof": _hex(proof.encode()),
        }

    def getBlockByNumber(self, params: list[Any]) -> dict[str, Any] | None:
        args = positional(params, 1, 1, "rollup_getBlockByNumber")
        full = boolean(args[1], "full") if len(args) > 1 else False
        try:
            number = self.resolve(block_tag(args[0], "block"))
        except ResourceNotFound:
            return None
        block = self.chain.store.get_block(number)
        return block_json(block, full, self.chain.system_count(number)) if block is not None else None

    def getTransactionByHash(self, params: list[Any]) -> dict[str, Any] | None:
        tx_hash = hash32(positional(params, 1, 0, "rollup_getTransactionByHash")[0], "hash")
        location = self.chain.store.get_tx_location(tx_hash)
        if location is None:
            return None
        number, index = location
        raw = self.block(number).transactions[index]
        return {**tx_json(raw), "blockNumber": number, "transactionIndex": index}

    def getTransactionReceipt(self, params: list[Any]) -> dict[str, Any] | None:
        tx_hash = hash32(positional(params, 1, 0, "rollup_getTransactionReceipt")[0], "hash")
        location = self.chain.store.get_tx_location(tx_hash)
        if location is None:
            explain = getattr(self.node, "explain_missing_transaction", None)
            if explain is not None:
                explain(tx_hash)  # the sequencer raises for a transaction a heal dropped (sequencer.dropped)
            return None
        number, index = location
        receipt = decode_receipt(self.chain.store.get_receipts(number)[index])
        return {**receipt_to_json(receipt), "blockHash": _hex(self.block(number).hash())}

    def syncStatus(self, params: list[Any]) -> dict[str, Any]:
        positional(params, 0, 0, "rollup_syncStatus")
        heads = self.node.heads()
        status = {
            "unsafe": head_json(heads.unsafe),
            "safe": head_json(heads.safe),
            "finalized": head_json(heads.finalized),
            "l1Head": self.node.l1_head(),
        }
        p2p_status = getattr(self.node, "p2p_status", None)
        if p2p_status is not None:
            status["p2p"] = p2p_status()
        return status

    def getBlockRange(self, params: list[Any]) -> list[str]:
        return [_hex(block.encode()) for block in self._range(params, "rollup_getBlockRange")]

    def getBatchBlocks(self, params: list[Any]) -> list[dict[str, Any]]:
        return [
            {
                "number": block.number,
                "timestamp": block.header.timestamp_ms,
                "l1Origin": block.header.l1_origin_number,
                "transactions": [_hex(raw) for raw in block.transactions[self.chain.system_count(block.number) :]],
            }
            for block in self._range(params, "rollup_getBatchBlocks")
        ]

    def _range(self, params: list[Any], method: str) -> list[Block]:
        args = positional(params, 2, 0, method)
        first = uint(args[0], "from", maximum=2**63)
        count = uint(args[1], "count", maximum=2**63)
        if count > MAX_RANGE_BLOCKS:
            raise LimitExceeded(f"count {count} exceeds the limit of {MAX_RANGE_BLOCKS} blocks")
        blocks: list[Block] = []
        size = 0
        last = min(first + count - 1, self.chain.head().number)
        for number in range(first, last + 1):
            block = self.block(number)
            size += len(block.transactions) * 120 + 200
            if blocks and size > MAX_RANGE_BYTES:
                break  # a partial range: the caller asks again from where it ends
            blocks.append(block)
        return blocks

    def outputAtBlock(self, params: list[Any]) -> dict[str, Any]:
        number = self.resolve(block_tag(positional(params, 1, 0, "rollup_outputAtBlock")[0], "block"))
        header = self.block(number).header
        return {
            "l2BlockNumber": number,
            "outputRoot": _hex(compute_output_root(number, header.state_root, header.hash())),
            "stateRoot": _hex(header.state_root),
            "blockHash": _hex(header.hash()),
        }


def decode_account_or_zero(reader: StateReader, addr: bytes) -> tuple[int, int]:
    return decode_account_or_zero_raw(reader.get(account_key(addr)))


def decode_account_or_zero_raw(value: bytes | None) -> tuple[int, int]:
    if value is None:
        return 0, 0
    account = decode_account(value)
    return account.balance, account.nonce


def block_json(block: Block, full: bool, system_count: int = 0) -> dict[str, Any]:
    h = block.header
    return {
        "number": h.number,
        "hash": _hex(block.hash()),
        "parentHash": _hex(h.parent_hash),
        "timestamp": h.timestamp_ms,
        "l1Origin": {"number": h.l1_origin_number, "hash": _hex(h.l1_origin_hash)},
        "transactionsRoot": _hex(h.tx_root),
        "stateRoot": _hex(h.state_root),
        "systemTransactionCount": system_count,
        "transactions": [tx_json(raw) if full else _hex(_tx_hash(raw)) for raw in block.transactions],
    }


def tx_json(raw: bytes) -> dict[str, Any]:
    """A block's transaction as JSON; bytes that are no valid transaction (a forced or batched one that
    the block carries and execution skipped) are shown as kind "invalid" with the reason."""
    base: dict[str, Any] = {"hash": _hex(_tx_hash(raw)), "raw": _hex(raw)}
    try:
        tx = decode_tx(raw)
        sender = tx.recover_sender() if isinstance(tx, SignedTx) else None
    except (DecodeError, CryptoError) as exc:
        return {**base, "kind": INVALID_KIND_NAME, "invalidReason": str(exc)}
    if isinstance(tx, DepositTx):  # a BalanceOverrideTx too: `amount` is the balance it sets
        return {
            **base,
            "kind": "balance_override" if isinstance(tx, BalanceOverrideTx) else "deposit",
            "l1Block": tx.l1_block,
            "logIndex": tx.log_index,
            "from": to_checksum_address(tx.l1_sender),
            "to": to_checksum_address(tx.to),
            "amount": str(tx.amount),
        }
    if not isinstance(tx, SignedTx) or sender is None:
        raise InvalidParams("stored transaction has an unknown form")
    return {
        **base,
        "kind": tx.payload.NAME,
        "from": to_checksum_address(sender),
        "chainId": tx.chain_id,
        "nonce": tx.nonce,
        "fee": str(tx.fee),
        **payload_json(tx.payload),
    }


def payload_json(payload: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(payload):
        value = getattr(payload, f.name)
        key = _camel(f.name)
        if isinstance(value, bytes):
            out[key] = to_checksum_address(value) if len(value) == 20 else _hex(value)
        elif isinstance(value, int):  # a flag (bool) or a code (IntEnum) too: its wire integer, as a string
            out[key] = str(int(value))
        else:
            out[key] = value
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _tx_hash(raw: bytes) -> bytes:
    return keccak256(raw)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()
