"""The sequencer's config file: `[node]`, `[rollup]` and `[sequencer]`.

    [node]
    data_dir = "data/sequencer"
    rpc_host = "127.0.0.1"
    rpc_port = 9545
    log_level = "INFO"

    [rollup]                       # shared by every L2 process (node.rollup_config)
    ...

    [sequencer]
    l1_rpc = "http://127.0.0.1:8545/"   # required
    block_time_ms = 200
    min_block_time_ms = 10        # with transactions waiting, seal after this (eager sealing)
    max_seal_txs = 2000           # at most this many transactions per sealed block (<= rollup.max_block_txs):
                                  # under load, blocks stay short to seal, so receipts and the L1 origin keep up
    mempool_max_txs = 10000        # pending + queued
    mempool_max_queued = 2500      # of which queued (future-nonce) at most; default max_txs / 4
    mempool_max_per_sender = 64    # pending transactions per sender
    mempool_max_queued_per_sender = 16
    mempool_max_nonce_gap = 64
    mempool_price_bump_percent = 10     # a replacement pays at least this much more
    mempool_queued_lifetime_ms = 60000  # a queued transaction is dropped after this
    mempool_journal = true         # <data_dir>/mempool.journal: accepted transactions survive a crash
    mempool_journal_fsync = false  # sync each group commit (power-cut safe); false matches the chain store
    mempool_rejournal_ms = 60000   # rewrite the journal to the pool's content this often
    mempool_dropped_history = 100000  # dropped transactions whose reason rollup_getTransactionStatus reports
    censor = ["0x..."]            # test mode: mempool txs from these senders are never selected
    recovery_workers = 0          # sender recovery processes for incoming txs; 0 = in-process
    key = "dev0"                  # optional, reserved: blocks are not signed yet

Every bad value raises ConfigError naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.block import MAX_BLOCK_TXS
from node.blocknet import P2PSection, load_p2p_section
from node.config_fields import read_url
from node.crypto import Address, CryptoError, parse_address
from node.rollup_config import NodeSection, RollupConfig, load_node_section, load_rollup_config
from node.service import ConfigError, load_toml
from sequencer.journal import DEFAULT_DROPPED_HISTORY, DEFAULT_ROTATE_MS, JournalSettings
from sequencer.mempool import (
    DEFAULT_MAX_NONCE_GAP,
    DEFAULT_MAX_PENDING_PER_SENDER,
    DEFAULT_MAX_QUEUED_PER_SENDER,
    DEFAULT_MAX_TXS,
    DEFAULT_PRICE_BUMP_PERCENT,
    DEFAULT_QUEUED_LIFETIME_MS,
    MempoolLimits,
)

DEFAULT_BLOCK_TIME_MS = 200
DEFAULT_MIN_BLOCK_TIME_MS = 10  # eager sealing: with transactions waiting, a block after 10 ms
DEFAULT_MAX_SEAL_TXS = 2_000  # ~0.3 s of transfers, ~0.7 s of venue orders to seal here
MAX_RECOVERY_WORKERS = 16

_KEYS = frozenset(
    {
        "l1_rpc",
        "block_time_ms",
        "min_block_time_ms",
        "max_seal_txs",
        "mempool_max_txs",
        "mempool_max_queued",
        "mempool_max_per_sender",
        "mempool_max_queued_per_sender",
        "mempool_max_nonce_gap",
        "mempool_price_bump_percent",
        "mempool_queued_lifetime_ms",
        "mempool_journal",
        "mempool_journal_fsync",
        "mempool_rejournal_ms",
        "mempool_dropped_history",
        "censor",
        "recovery_workers",
        "key",
        "faulty_gossip_block",
    }
)


@dataclass(frozen=True, slots=True)
class SequencerSection:
    l1_rpc: str
    block_time_ms: int
    min_block_time_ms: int
    mempool: MempoolLimits
    max_seal_txs: int
    censor: frozenset[Address]
    recovery_workers: int
    key: str | None  # signs gossiped blocks (required with [p2p])
    faulty_gossip_block: int | None = None  # test mode: gossip a different (valid) block at this height
    journal: JournalSettings = JournalSettings()


@dataclass(frozen=True, slots=True)
class SequencerConfig:
    node: NodeSection
    rollup: RollupConfig
    sequencer: SequencerSection
    p2p: P2PSection | None = None


def load_sequencer_config(path: Path | str) -> SequencerConfig:
    return sequencer_config_from_dict(load_toml(path), Path(path).parent)


def sequencer_config_from_dict(doc: Mapping[str, Any], base_dir: Path | None = None) -> SequencerConfig:
    """`base_dir`: where relative paths point from (the config file's directory)."""
    return SequencerConfig(
        node=load_node_section(doc, base_dir),
        rollup=load_rollup_config(doc),
        sequencer=load_sequencer_section(doc),
        p2p=_p2p_with_key(doc),
    )


def _p2p_with_key(doc: Mapping[str, Any]) -> P2PSection | None:
    p2p = load_p2p_section(doc)
    if p2p is not None and not doc.get("sequencer", {}).get("key"):
        raise ConfigError("sequencer.key is required with [p2p]: it signs the gossiped blocks")
    return p2p


def load_sequencer_section(doc: Mapping[str, Any]) -> SequencerSection:
    section = doc.get("sequencer")
    if not isinstance(section, Mapping):
        raise ConfigError("config has no [sequencer] section")
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise ConfigError(f"[sequencer] has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
    return SequencerSection(
        l1_rpc=_url(section, "l1_rpc"),
        block_time_ms=_int(section, "block_time_ms", DEFAULT_BLOCK_TIME_MS, 10, 60_000),
        min_block_time_ms=_int(section, "min_block_time_ms", DEFAULT_MIN_BLOCK_TIME_MS, 1, 60_000),
        max_seal_txs=_int(section, "max_seal_txs", DEFAULT_MAX_SEAL_TXS, 1, MAX_BLOCK_TXS),
        mempool=_mempool_limits(section),
        censor=_addresses(section.get("censor", [])),
        recovery_workers=_int(section, "recovery_workers", 0, 0, MAX_RECOVERY_WORKERS),
        key=_optional_str(section, "key"),
        faulty_gossip_block=_int(section, "faulty_gossip_block", 0, 0, 2**63) or None,
        journal=JournalSettings(
            enabled=_bool(section, "mempool_journal", True),
            fsync=_bool(section, "mempool_journal_fsync", False),
            rotate_ms=_int(section, "mempool_rejournal_ms", DEFAULT_ROTATE_MS, 1_000, 86_400_000),
            dropped_history=_int(section, "mempool_dropped_history", DEFAULT_DROPPED_HISTORY, 0, 10_000_000),
        ),
    )


def _mempool_limits(section: Mapping[str, Any]) -> MempoolLimits:
    max_txs = _int(section, "mempool_max_txs", DEFAULT_MAX_TXS, 1, 10_000_000)
    queued = section.get("mempool_max_queued")
    return MempoolLimits(
        max_txs=max_txs,
        max_queued=None if queued is None else _int(section, "mempool_max_queued", 0, 0, max_txs),
        max_pending_per_sender=_int(section, "mempool_max_per_sender", DEFAULT_MAX_PENDING_PER_SENDER, 1, 100_000),
        max_queued_per_sender=_int(section, "mempool_max_queued_per_sender", DEFAULT_MAX_QUEUED_PER_SENDER, 0, 100_000),
        max_nonce_gap=_int(section, "mempool_max_nonce_gap", DEFAULT_MAX_NONCE_GAP, 0, 100_000),
        price_bump_percent=_int(section, "mempool_price_bump_percent", DEFAULT_PRICE_BUMP_PERCENT, 0, 1_000),
        queued_lifetime_ms=_int(section, "mempool_queued_lifetime_ms", DEFAULT_QUEUED_LIFETIME_MS, 1_000, 86_400_000),
    )


# -- field readers --


def _int(section: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"sequencer.{key} must be an integer (got {value!r})")
    if not low <= value <= high:
        raise ConfigError(f"sequencer.{key} = {value} is outside [{low}, {high}]")
    return value


def _bool(section: Mapping[str, Any], key: str, default: bool) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"sequencer.{key} must be true or false (got {value!r})")
    return value


def _url(section: Mapping[str, Any], key: str) -> str:
    return read_url(section, "sequencer", key)


def _optional_str(section: Mapping[str, Any], key: str) -> str | None:
    value = section.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"sequencer.{key} must be a non-empty string")
    return value


def _addresses(value: Any) -> frozenset[Address]:
    if not isinstance(value, list):
        raise ConfigError("sequencer.censor must be a list of addresses")
    result = set()
    for item in value:
        try:
            result.add(parse_address(item))
        except (CryptoError, TypeError, AttributeError) as exc:
            raise ConfigError(f"sequencer.censor: {item!r} is not an address ({exc})") from None
    return frozenset(result)
