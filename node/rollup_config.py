"""The `[rollup]` and `[node]` config sections shared by every L2 process.

Every L2 process (sequencer, executors, settler, challenger) must agree on
the `[rollup]` section: it fixes the chain id, the genesis allocation, fees
and the derivation rules. `rollup devnet up` writes one copy into each
process's config.

`devnet_overrides = true` (written only by `rollup devnet up`; default
false) is a chain rule: it goes into L2 genesis state
(node.stf.chain_rules), so it changes the genesis root and every node, the
L1 (from its `[l1.rollup]` copy) and the one-step verifier agree on it.
With it, L1 balance overrides set L2 balances (node.tx.BalanceOverrideTx).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.block import MAX_BLOCK_TXS
from node.crypto import Address, CryptoError, parse_address
from node.derivation import RollupRules
from node.encoding import UINT256_MAX
from node.service import ConfigError
from node.stf import ChainConfig
from node.stf.chain_rules import compute_chain_rule_writes
from node.venue import MarketConfigError, genesis_writes, load_markets, load_venue_addresses


@dataclass(frozen=True, slots=True)
class RollupConfig:
    chain_id: int
    l1_chain_id: int
    fee_recipient: Address
    min_fee: int
    max_block_txs: int
    rules: RollupRules
    genesis_alloc: Mapping[bytes, int]
    # Genesis state besides accounts and supply: the venue's ([venue]) and the chain rules' (devnet_overrides).
    venue_genesis: Mapping[bytes, bytes] = field(default_factory=dict)
    devnet_overrides: bool = False  # chain rule: L1 balance overrides apply (a devnet's chain only)

    def chain_config(self) -> ChainConfig:
        return ChainConfig(self.chain_id, self.fee_recipient, self.min_fee, self.max_block_txs)


@dataclass(frozen=True, slots=True)
class NodeSection:
    data_dir: Path
    rpc_host: str
    rpc_port: int
    log_level: str
    devnet: bool = False  # started as part of a devnet: serves the devnet_* control methods (node.rpc.control)


def load_rollup_config(doc: Mapping[str, Any]) -> RollupConfig:
    section = _section(doc, "rollup")
    chain_id = _int(section, "rollup.chain_id", section.get("chain_id"), 1, 2**64 - 1)
    max_block_txs = _int(section, "rollup.max_block_txs", section.get("max_block_txs", 10_000), 1, MAX_BLOCK_TXS)
    devnet_overrides = _bool("rollup.devnet_overrides", section.get("devnet_overrides", False))
    return RollupConfig(
        chain_id=chain_id,
        l1_chain_id=_int(section, "rollup.l1_chain_id", section.get("l1_chain_id"), 1, 2**64 - 1),
        fee_recipient=_address("rollup.fee_recipient", section.get("fee_recipient")),
        min_fee=_int(section, "rollup.min_fee", section.get("min_fee", 0), 0, UINT256_MAX),
        max_block_txs=max_block_txs,
        rules=RollupRules(
            chain_id=chain_id,
            max_sequencer_drift_ms=_int(
                section, "rollup.max_sequencer_drift_ms", section.get("max_sequencer_drift_ms", 10_000), 1, 10**9
            ),
            sequencing_window=_int(section, "rollup.sequencing_window", section.get("sequencing_window", 20), 1, 10**6),
            max_block_txs=max_block_txs,
        ),
        genesis_alloc=_alloc(section.get("genesis", {})),
        venue_genesis={**load_venue_genesis(doc), **compute_chain_rule_writes(devnet_overrides)},
        devnet_overrides=devnet_overrides,
    )


def load_venue_genesis(doc: Mapping[str, Any]) -> dict[bytes, bytes]:
    """The venue's markets, oracle and insurance fund as genesis state writes; {} without [venue]."""
    if "venue" not in doc:
        return {}
    try:
        return genesis_writes(load_markets(doc), *load_venue_addresses(doc))
    except MarketConfigError as exc:
        raise ConfigError(str(exc)) from None


def load_node_section(doc: Mapping[str, Any], base_dir: Path | None = None) -> NodeSection:
    section = _section(doc, "node")
    data_dir = section.get("data_dir")
    if not isinstance(data_dir, str) or not data_dir:
        raise ConfigError("node.data_dir must be a non-empty path")
    path = Path(data_dir).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    level = section.get("log_level", "INFO")
    if not isinstance(level, str) or level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("node.log_level must be one of DEBUG, INFO, WARNING, ERROR")
    host = section.get("rpc_host", "127.0.0.1")
    if not isinstance(host, str):
        raise ConfigError("node.rpc_host must be a string")
    port = _int(section, "node.rpc_port", section.get("rpc_port", 0), 0, 65535)
    return NodeSection(path, host, port, level.upper(), _bool("node.devnet", section.get("devnet", False)))


def _section(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = doc.get(name)
    if not isinstance(section, Mapping):
        raise ConfigError(f"config has no [{name}] section")
    return section


def _int(section: Mapping[str, Any], key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{key} must be an integer (got {value!r})")
    if not low <= value <= high:
        raise ConfigError(f"{key} = {value} is outside [{low}, {high}]")
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false (got {value!r})")
    return value


def _address(key: str, value: Any) -> Address:
    try:
        return parse_address(value)
    except CryptoError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _alloc(table: Any) -> dict[bytes, int]:
    if not isinstance(table, Mapping):
        raise ConfigError("rollup.genesis must be a table of address = balance")
    return {
        _address(f"rollup.genesis.{addr}", addr): _int(table, f"rollup.genesis.{addr}", balance, 0, UINT256_MAX)
        for addr, balance in table.items()
    }
