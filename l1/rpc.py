"""The l1_* JSON-RPC methods (docs/protocol.md section 1), registered on an RpcServer.

The dispute and withdrawal reads (l1_getGames, l1_getGame, l1_getWithdrawal,
l1_getWithdrawals) are in l1.dispute_rpc and registered with these.

Handlers are thin: validate params (node.rpc.params), call the chain, render
JSON. Amounts are decimal strings, bytes 0x-hex, addresses EIP-55, numbers
and timestamps JSON integers. Transaction rejections keep their own codes
(node.stf.errors, l1.errors) through their `rpc_code`.
"""

from __future__ import annotations

from typing import Any

from node.crypto import to_checksum_address
from node.rpc.errors import LimitExceeded
from node.rpc.params import address, block_tag, hash32, hex_bytes, positional, uint
from node.rpc.server import RpcServer
from node.shape import RollupRules
from node.stf.config import ChainConfig
from l1.chain import IncludedReceipt, L1Chain
from l1.dispute_rpc import DisputeRpc
from l1.config import L1ChainParams, L1Config
from l1.events import BatchPosted, DepositLocked, TxForced, event_to_json
from l1.dispute_state import OutputDispute, Party
from l1.l2_blocks import L2BlockRecord
from l1.state import OutputProposal
from l1.store import L1StoredBlock

MAX_DERIVATION_BLOCKS = 64
MAX_OUTPUTS = 256
UINT64_MAX = 2**64 - 1


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


# -- JSON renderings --


def block_to_json(block: L1StoredBlock, with_events: bool = True) -> dict[str, Any]:
    header = block.header
    result: dict[str, Any] = {
        "number": header.number,
        "hash": _hex(block.hash()),
        "parentHash": _hex(header.parent_hash),
        "timestamp": header.timestamp_ms,
        "transactions": [_hex(h) for h in block.tx_hashes()],
    }
    if with_events:
        result["events"] = [event_to_json(e) for e in block.events]
    return result


def receipt_to_json(included: IncludedReceipt) -> dict[str, Any]:
    receipt = included.receipt
    return {
        "transactionHash": _hex(receipt.tx_hash),
        "blockNumber": included.block_number,
        "blockHash": _hex(included.block_hash),
        "transactionIndex": receipt.index,
        "from": to_checksum_address(receipt.sender),
        "kind": receipt.kind,
        "status": receipt.status,
        "error": receipt.error,
        "errorCode": receipt.error_code,
        "events": [event_to_json(e) for e in included.events],
    }


def derivation_to_json(block: L1StoredBlock) -> dict[str, Any]:
    events = block.events
    return {
        "number": block.number,
        "hash": _hex(block.hash()),
        "timestamp": block.header.timestamp_ms,
        "deposits": [
            {"log_index": e.log_index, "from": to_checksum_address(e.sender), "to": to_checksum_address(e.l2_to), "amount": str(e.amount)}
            for e in events
            if isinstance(e, DepositLocked)
        ],
        "forced_txs": [{"log_index": e.log_index, "tx": _hex(e.l2_tx)} for e in events if isinstance(e, TxForced)],
        "batches": [{"log_index": e.log_index, "data": _hex(e.data)} for e in events if isinstance(e, BatchPosted)],
    }


def party_to_json(party: Party) -> dict[str, Any]:
    return {
        "address": to_checksum_address(party.address),
        "bond": str(party.bond),
        "wins": party.wins,
        "beatenBy": party.beaten_by,
    }


def output_to_json(proposal: OutputProposal, challenge_window: int, dispute: OutputDispute | None = None) -> dict[str, Any]:
    """`dispute` (its parties by slot, its games) is present only once the output has been disputed.

    Defender 0 is the proposer. `beatenBy` is the slot, on the other side, of the first party that beat it
    (who takes its bond if its side loses)."""
    result: dict[str, Any] = {
        "index": proposal.index,
        "l2BlockNumber": proposal.l2_block_number,
        "outputRoot": _hex(proposal.output_root),
        "proposer": to_checksum_address(proposal.proposer),
        "bond": str(proposal.bond),
        "proposedAt": proposal.proposed_at,
        "finalizesAt": proposal.finalizes_at(challenge_window),
        "status": proposal.status.label,
    }
    if dispute is not None:
        result["dispute"] = {
            "challengers": [party_to_json(p) for p in dispute.challengers],
            "defenders": [party_to_json(p) for p in dispute.defenders],
            "games": list(dispute.game_ids),
            "openGames": dispute.open_games,
        }
    return result


def l2_block_to_json(record: L2BlockRecord) -> dict[str, Any]:
    return {
        "number": record.number,
        "timestamp": record.timestamp_ms,
        "l1OriginNumber": record.l1_origin_number,
        "opensEpoch": record.opens_epoch,
        "batch": None if record.batch is None else {
            "l1Block": record.batch[0], "logIndex": record.batch[1], "position": record.batch[2],
        },
    }


def config_to_json(config: L1Config, params: L1ChainParams | None = None) -> dict[str, Any]:
    """`params`: the chain's own (the L2 genesis root may be computed at start-up), else the config's."""
    params = config.params if params is None else params
    return {
        "chainId": params.chain_id,
        "blockTimeMs": config.block_time_ms,
        "batcher": to_checksum_address(params.batcher),
        "proposer": None if params.proposer is None else to_checksum_address(params.proposer),
        "proposerFallbackBlocks": params.proposer_fallback_blocks,
        "proposerBond": str(params.proposer_bond),
        "challengeWindow": params.challenge_window,
        "minFee": str(params.min_fee),
        "maxBatchBytes": params.max_batch_bytes,
        "gameClockBlocks": params.disputes.game_clock_blocks,
        "l2GenesisOutputRoot": None if params.disputes.genesis_output_root is None else _hex(params.disputes.genesis_output_root),
        "rollup": rollup_to_json(params.disputes.rollup, params.disputes.rules),
    }


def rollup_to_json(rollup: ChainConfig | None, rules: RollupRules | None = None) -> dict[str, Any] | None:
    """The L2 ChainConfig the one-step verifier runs and the derivation rules the L1 follows; null when
    disputes are disabled."""
    if rollup is None:
        return None
    return {
        "chainId": rollup.chain_id,
        "feeRecipient": to_checksum_address(rollup.fee_recipient),
        "minFee": str(rollup.min_fee),
        "maxBlockTxs": rollup.max_block_txs,
        "sequencingWindow": None if rules is None else rules.sequencing_window,
        "maxSequencerDriftMs": None if rules is None else rules.max_sequencer_drift_ms,
    }


# -- handlers --


class L1Rpc:
    """The l1_* handlers over one chain."""

    def __init__(self, chain: L1Chain, config: L1Config) -> None:
        self.chain = chain
        self.config = config

    def register(self, server: RpcServer) -> None:
        for name in (
            "l1_chainId",
            "l1_blockNumber",
            "l1_getBlockByNumber",
            "l1_getBlockByHash",
            "l1_getBalance",
            "l1_getNonce",
            "l1_sendRawTransaction",
            "l1_getTransactionReceipt",
            "l1_getDerivationData",
            "l1_getOutputs",
            "l1_getL2Head",
            "l1_getL2Block",
            "l1_config",
        ):
            server.register(name, getattr(self, name))
        DisputeRpc(self.chain).register(server)

    def l1_chainId(self, params: list[Any]) -> int:
        positional(params, 0, 0, "l1_chainId")
        return self.config.params.chain_id

    def l1_blockNumber(self, params: list[Any]) -> int:
        positional(params, 0, 0, "l1_blockNumber")
        return self.chain.head.number

    def l1_getBlockByNumber(self, params: list[Any]) -> dict[str, Any] | None:
        (tag,) = positional(params, 1, 0, "l1_getBlockByNumber")
        number = self.resolve_tag(block_tag(tag, "block"))
        block = self.chain.get_block(number)
        return None if block is None else block_to_json(block)

    def l1_getBlockByHash(self, params: list[Any]) -> dict[str, Any] | None:
        (block_hash,) = positional(params, 1, 0, "l1_getBlockByHash")
        block = self.chain.get_block_by_hash(hash32(block_hash, "block hash"))
        return None if block is None else block_to_json(block)

    def resolve_tag(self, tag: int | str) -> int:
        """The L1 is final at once: every named tag but "earliest" means the head."""
        if isinstance(tag, int):
            return tag
        return 0 if tag == "earliest" else self.chain.head.number

    def l1_getBalance(self, params: list[Any]) -> str:
        (who,) = positional(params, 1, 0, "l1_getBalance")
        return str(self.chain.get_balance(address(who, "address")))

    def l1_getNonce(self, params: list[Any]) -> int:
        (who,) = positional(params, 1, 0, "l1_getNonce")
        return self.chain.get_pending_nonce(address(who, "address"))

    def l1_sendRawTransaction(self, params: list[Any]) -> str:
        (raw,) = positional(params, 1, 0, "l1_sendRawTransaction")
        return _hex(self.chain.submit(hex_bytes(raw, "transaction")))

    def l1_getTransactionReceipt(self, params: list[Any]) -> dict[str, Any] | None:
        (tx_hash,) = positional(params, 1, 0, "l1_getTransactionReceipt")
        included = self.chain.get_receipt(hash32(tx_hash, "transaction hash"))
        return None if included is None else receipt_to_json(included)

    def l1_getDerivationData(self, params: list[Any]) -> list[dict[str, Any]]:
        first, count = positional(params, 2, 0, "l1_getDerivationData")
        first_block = uint(first, "from_block", maximum=UINT64_MAX)
        n = _count(count, MAX_DERIVATION_BLOCKS)
        return [derivation_to_json(b) for b in self.chain.get_blocks(first_block, n)] if n else []

    def l1_getOutputs(self, params: list[Any]) -> list[dict[str, Any]]:
        first, count = positional(params, 2, 0, "l1_getOutputs")
        first_index = uint(first, "from_index", maximum=UINT64_MAX)
        n = _count(count, MAX_OUTPUTS)
        window = self.config.params.challenge_window
        return [output_to_json(p, window, self.chain.get_output_dispute(p.index)) for p in self.chain.get_outputs(first_index, n)]

    def l1_getL2Head(self, params: list[Any]) -> dict[str, Any]:
        """The newest L2 block this L1's inbox derives (outputs may only name blocks up to it)."""
        positional(params, 0, 0, "l1_getL2Head")
        head = self.chain.get_l2_head()
        return {"number": head.number, "timestamp": head.timestamp_ms, "l1OriginNumber": head.l1_origin_number}

    def l1_getL2Block(self, params: list[Any]) -> dict[str, Any] | None:
        """L2 block `number` as this L1 derived it from its inbox, or null if it is not derived (yet)."""
        (number,) = positional(params, 1, 0, "l1_getL2Block")
        record = self.chain.get_l2_block(uint(number, "number", maximum=UINT64_MAX))
        return None if record is None else l2_block_to_json(record)

    def l1_config(self, params: list[Any]) -> dict[str, Any]:
        positional(params, 0, 0, "l1_config")
        return config_to_json(self.config, self.chain.params)


def _count(value: Any, limit: int) -> int:
    n = uint(value, "count", maximum=UINT64_MAX)
    if n > limit:
        raise LimitExceeded(f"count {n} exceeds the limit of {limit}")
    return n
