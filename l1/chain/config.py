"""The L1 devnet's configuration: `[l1]`, `[l1.genesis]` and `[node]` of a TOML file.

    [node]
    data_dir = "data/l1"          # required; a relative path is relative to the config file's directory
    rpc_host = "127.0.0.1"
    rpc_port = 8545
    log_level = "INFO"
    devnet = false                # optional: true when started by `rollup devnet up` (devnet_* control methods)

    [l1]
    chain_id = 900
    block_time_ms = 1000
    min_fee = "1000000000000"     # wei, burned per transaction (amounts: int or decimal string)
    batcher = "dev1"              # an address (EIP-55 if mixed case) or a dev account name dev0..dev9
    proposer = "dev2"             # optional: the permissioned proposer (default: none, anyone may propose)
    proposer_fallback_blocks = 300  # optional: with no output finalized for this many L1 blocks, anyone may propose
    proposer_bond = "1000000000000000000"
    challenge_window = 20         # L1 blocks
    max_batch_bytes = 131072
    mempool_max_txs = 10000       # optional
    mempool_max_per_sender = 64   # optional
    max_block_txs = 2000          # optional
    game_clock_blocks = 20        # optional: each side's chess clock in a dispute game, in L1 blocks
    l2_genesis_output_root = "0x..."   # optional: the output root of L2 block 0 (disputes may start there)

    [l1.genesis]                  # optional; default: dev0..dev9 with 10^22 wei each
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" = "10000000000000000000000"

    [l1.rollup]                   # optional: the rollup's ChainConfig, needed to run one-step proofs;
    chain_id = 901                #   without it dispute_output is refused (disputes disabled)
    fee_recipient = "0x..."       #   must equal [rollup] fee_recipient of the L2 processes
    min_fee = "1"                 #   must equal [rollup] min_fee
    max_block_txs = 10000         #   optional, must equal [rollup] max_block_txs
    sequencing_window = 20        #   optional, must equal [rollup] sequencing_window
    max_sequencer_drift_ms = 10000  # optional, must equal [rollup] max_sequencer_drift_ms
    devnet_overrides = false      #   optional, must equal [rollup] devnet_overrides: the chain rule that lets
                                  #   set_l2_balance (kind 13) through, and part of the L2 genesis state
                                  #   with them the L1 tracks which L2 blocks its inbox derives (l1.contracts.l2_blocks)
    [l1.rollup.genesis]           #   optional: a copy of [rollup] genesis (L2 address = balance); the L1
                                  #   then computes the L2 genesis output root from its own block 0
                                  #   (l1.contracts.l2_genesis) unless l2_genesis_output_root is given

Every bad value raises `ConfigError` naming the section, the key and what
was expected. `L1ChainParams` is the part the contracts need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from l1.chain.tx import MAX_BATCH_DATA_BYTES
from l1.contracts.params import (
    DEFAULT_GAME_CLOCK_BLOCKS,
    DEFAULT_PROPOSER_FALLBACK_BLOCKS,
    DisputeParams,
    L1ChainParams,
)
from node.block import MAX_BLOCK_TXS
from node.crypto import Address, CryptoError, Hash32, parse_address, parse_hex, to_checksum_address
from node.encoding import UINT64_MAX, UINT256_MAX
from node.keys.hd import DEV_ACCOUNT_COUNT, dev_accounts
from node.rollup_config import load_venue_genesis
from node.service import ConfigError, load_toml
from node.shape import RollupRules
from node.stf.chain_rules import compute_chain_rule_writes
from node.stf.config import ChainConfig

DEFAULT_CHAIN_ID = 900
DEFAULT_BLOCK_TIME_MS = 1000
DEFAULT_MIN_FEE = 10**12
DEFAULT_BATCHER = "dev1"
DEFAULT_PROPOSER_BOND = 10**18
DEFAULT_CHALLENGE_WINDOW = 20
DEFAULT_MAX_BATCH_BYTES = 131_072
DEFAULT_MEMPOOL_MAX_TXS = 10_000
DEFAULT_MEMPOOL_MAX_PER_SENDER = 64
DEFAULT_MAX_BLOCK_TXS = 2_000
DEFAULT_GENESIS_BALANCE = 10**22
DEFAULT_RPC_HOST = "127.0.0.1"
DEFAULT_RPC_PORT = 8545
MIN_BLOCK_TIME_MS = 10
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_L1_KEYS = frozenset(
    {
        "chain_id",
        "block_time_ms",
        "min_fee",
        "batcher",
        "proposer",
        "proposer_fallback_blocks",
        "proposer_bond",
        "challenge_window",
        "max_batch_bytes",
        "mempool_max_txs",
        "mempool_max_per_sender",
        "max_block_txs",
        "genesis",
        "game_clock_blocks",
        "l2_genesis_output_root",
        "rollup",
    }
)
_ROLLUP_KEYS = frozenset(
    {
        "chain_id",
        "fee_recipient",
        "min_fee",
        "max_block_txs",
        "sequencing_window",
        "max_sequencer_drift_ms",
        "genesis",
        "venue",
        "devnet_overrides",
    }
)
DEFAULT_L2_MAX_BLOCK_TXS = 10_000  # node.rollup_config's default for [rollup] max_block_txs
DEFAULT_L2_SEQUENCING_WINDOW = 20  # node.rollup_config's defaults
DEFAULT_L2_MAX_SEQUENCER_DRIFT_MS = 10_000


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    max_txs: int = DEFAULT_MEMPOOL_MAX_TXS
    max_per_sender: int = DEFAULT_MEMPOOL_MAX_PER_SENDER


@dataclass(frozen=True, slots=True)
class L1Config:
    params: L1ChainParams
    block_time_ms: int
    genesis: tuple[tuple[Address, int], ...]
    mempool: MempoolLimits
    max_block_txs: int
    data_dir: Path
    rpc_host: str
    rpc_port: int
    log_level: str
    l2_genesis_alloc: tuple[tuple[Address, int], ...] | None = None  # [l1.rollup.genesis]
    l2_genesis_extra: Mapping[bytes, bytes] = field(default_factory=dict)  # [l1.rollup.venue]: the venue's genesis
    devnet: bool = False  # [node] devnet: serves devnet_mine / devnet_setBalance (node.rpc.control)


def default_genesis() -> tuple[tuple[Address, int], ...]:
    return tuple((account.address, DEFAULT_GENESIS_BALANCE) for account in dev_accounts(DEV_ACCOUNT_COUNT))


def load_l1_config(path: Path | str) -> L1Config:
    """Read and validate an L1 config file; raises ConfigError."""
    return l1_config_from_dict(load_toml(path), str(path), Path(path).parent)


def l1_config_from_dict(data: Mapping[str, Any], source: str = "config", base_dir: Path | None = None) -> L1Config:
    node = _section(data, "node", source)
    l1 = _section(data, "l1", source)
    _reject_unknown_keys(l1, "l1", source)
    return L1Config(
        params=_chain_params(l1, source),
        block_time_ms=_int(l1, "l1", "block_time_ms", DEFAULT_BLOCK_TIME_MS, MIN_BLOCK_TIME_MS, 3_600_000, source),
        genesis=_genesis(l1.get("genesis"), source),
        mempool=MempoolLimits(
            max_txs=_int(l1, "l1", "mempool_max_txs", DEFAULT_MEMPOOL_MAX_TXS, 1, 1_000_000, source),
            max_per_sender=_int(l1, "l1", "mempool_max_per_sender", DEFAULT_MEMPOOL_MAX_PER_SENDER, 1, 4096, source),
        ),
        max_block_txs=_int(l1, "l1", "max_block_txs", DEFAULT_MAX_BLOCK_TXS, 1, 100_000, source),
        data_dir=_data_dir(node, source, base_dir),
        rpc_host=_str(node, "node", "rpc_host", DEFAULT_RPC_HOST, source),
        rpc_port=_int(node, "node", "rpc_port", DEFAULT_RPC_PORT, 0, 65535, source),
        log_level=_log_level(node, source),
        l2_genesis_alloc=_l2_genesis(l1.get("rollup"), source),
        l2_genesis_extra=_l2_venue_genesis(l1.get("rollup"), source),
        devnet=_bool(node, "node", "devnet", False, source),
    )


def _l2_venue_genesis(rollup: Any, source: str) -> dict[bytes, bytes]:
    """[l1.rollup.venue] (a copy of the L2's [venue] table) and [l1.rollup] devnet_overrides (the chain
    rule, node.stf.chain_rules): the L2 genesis state besides accounts."""
    if not isinstance(rollup, Mapping):
        return {}
    venue = {} if rollup.get("venue") is None else load_venue_genesis({"venue": rollup["venue"]})
    return {**venue, **compute_chain_rule_writes(_devnet_overrides(rollup, source))}


def _devnet_overrides(rollup: Any, source: str) -> bool:
    """[l1.rollup] devnet_overrides: the L2 chain rule that lets balance overrides through (a devnet's)."""
    return isinstance(rollup, Mapping) and _bool(rollup, "l1.rollup", "devnet_overrides", False, source)


def _l2_genesis(rollup: Any, source: str) -> tuple[tuple[Address, int], ...] | None:
    if not isinstance(rollup, Mapping) or rollup.get("genesis") is None:
        return None
    return _genesis(rollup["genesis"], source, "[l1.rollup.genesis]")


def _chain_params(l1: Mapping[str, Any], source: str) -> L1ChainParams:
    return L1ChainParams(
        chain_id=_int(l1, "l1", "chain_id", DEFAULT_CHAIN_ID, 0, UINT64_MAX, source),
        min_fee=_amount(l1.get("min_fee", DEFAULT_MIN_FEE), "[l1] min_fee", source),
        batcher=_account(l1.get("batcher", DEFAULT_BATCHER), "[l1] batcher", source),
        proposer_bond=_amount(l1.get("proposer_bond", DEFAULT_PROPOSER_BOND), "[l1] proposer_bond", source),
        challenge_window=_int(l1, "l1", "challenge_window", DEFAULT_CHALLENGE_WINDOW, 0, UINT64_MAX, source),
        max_batch_bytes=_int(l1, "l1", "max_batch_bytes", DEFAULT_MAX_BATCH_BYTES, 1, MAX_BATCH_DATA_BYTES, source),
        disputes=_dispute_params(l1, source),
        proposer=None if l1.get("proposer") is None else _account(l1["proposer"], "[l1] proposer", source),
        proposer_fallback_blocks=_int(
            l1, "l1", "proposer_fallback_blocks", DEFAULT_PROPOSER_FALLBACK_BLOCKS, 1, UINT64_MAX, source
        ),
        devnet_overrides=_devnet_overrides(l1.get("rollup"), source),
    )


def _dispute_params(l1: Mapping[str, Any], source: str) -> DisputeParams:
    root = l1.get("l2_genesis_output_root")
    return DisputeParams(
        game_clock_blocks=_int(l1, "l1", "game_clock_blocks", DEFAULT_GAME_CLOCK_BLOCKS, 1, 1_000_000, source),
        genesis_output_root=None if root is None else _hash32(root, "[l1] l2_genesis_output_root", source),
        rollup=_rollup(l1.get("rollup"), source),
        rules=_rollup_rules(l1.get("rollup"), source),
    )


def _rollup_rules(table: Any, source: str) -> RollupRules | None:
    """The L2's derivation rules from [l1.rollup] (validated by _rollup first)."""
    if not isinstance(table, Mapping):
        return None
    return RollupRules(
        chain_id=_int(table, "l1.rollup", "chain_id", 0, 0, UINT64_MAX, source),
        max_sequencer_drift_ms=_int(
            table, "l1.rollup", "max_sequencer_drift_ms", DEFAULT_L2_MAX_SEQUENCER_DRIFT_MS, 1, 10**9, source
        ),
        sequencing_window=_int(table, "l1.rollup", "sequencing_window", DEFAULT_L2_SEQUENCING_WINDOW, 1, 10**6, source),
        max_block_txs=_int(table, "l1.rollup", "max_block_txs", DEFAULT_L2_MAX_BLOCK_TXS, 1, MAX_BLOCK_TXS, source),
    )


def _rollup(table: Any, source: str) -> ChainConfig | None:
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: [l1.rollup] must be a table (chain_id, fee_recipient, min_fee, max_block_txs)")
    unknown = sorted(set(table) - _ROLLUP_KEYS)
    if unknown:
        raise ConfigError(
            f"{source}: [l1.rollup] has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_ROLLUP_KEYS))}"
        )
    for key in ("chain_id", "fee_recipient"):
        if key not in table:
            raise ConfigError(f"{source}: [l1.rollup] {key} is required (copy it from the L2 processes' [rollup])")
    return ChainConfig(
        chain_id=_int(table, "l1.rollup", "chain_id", 0, 0, UINT64_MAX, source),
        fee_recipient=_account(table["fee_recipient"], "[l1.rollup] fee_recipient", source),
        min_fee=_amount(table.get("min_fee", 0), "[l1.rollup] min_fee", source),
        max_block_txs=_int(table, "l1.rollup", "max_block_txs", DEFAULT_L2_MAX_BLOCK_TXS, 1, MAX_BLOCK_TXS, source),
    )


def _hash32(value: Any, what: str, source: str) -> Hash32:
    try:
        return Hash32(parse_hex(value, 32, what))
    except CryptoError as exc:
        raise ConfigError(f"{source}: {what} must be 0x + 64 hex digits ({exc})") from None


# -- field readers: each names the section and key in its error --


def _section(data: Mapping[str, Any], name: str, source: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: [{name}] must be a table")
    return value


def _reject_unknown_keys(table: Mapping[str, Any], section: str, source: str) -> None:
    unknown = sorted(set(table) - _L1_KEYS)
    if unknown:
        raise ConfigError(
            f"{source}: [{section}] has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_L1_KEYS))}"
        )


def _int(table: Mapping[str, Any], section: str, key: str, default: int, low: int, high: int, source: str) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{source}: [{section}] {key} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{source}: [{section}] {key} must be in [{low}, {high}], got {value}")
    return value


def _bool(table: Mapping[str, Any], section: str, key: str, default: bool, source: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{source}: [{section}] {key} must be true or false, got {value!r}")
    return value


def _str(table: Mapping[str, Any], section: str, key: str, default: str, source: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: [{section}] {key} must be a non-empty string, got {value!r}")
    return value


def _amount(value: Any, what: str, source: str) -> int:
    """An amount: a TOML integer or a decimal string, in [0, 2^256)."""
    if isinstance(value, str) and value.isdigit() and value.isascii():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise ConfigError(f"{source}: {what} must be an integer or a decimal string, got {value!r}")
    if not 0 <= number <= UINT256_MAX:
        raise ConfigError(f"{source}: {what} must be in [0, 2^256), got {number}")
    return number


def _account(value: Any, what: str, source: str) -> Address:
    """An address (0x + 40 hex, EIP-55 if mixed case) or a dev account name dev0..dev9."""
    if not isinstance(value, str):
        raise ConfigError(
            f"{source}: {what} must be an address string or dev0..dev{DEV_ACCOUNT_COUNT - 1}, got {value!r}"
        )
    devs = {account.name: account.address for account in dev_accounts(DEV_ACCOUNT_COUNT)}
    if value.lower() in devs:
        return devs[value.lower()]
    try:
        return parse_address(value)
    except CryptoError as exc:
        raise ConfigError(f"{source}: {what} is not a valid address ({exc})") from None


def _genesis(table: Any, source: str, section: str = "[l1.genesis]") -> tuple[tuple[Address, int], ...]:
    if table is None:
        return default_genesis()
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: {section} must be a table of address = balance")
    balances: dict[Address, int] = {}
    for key, value in table.items():
        address = _account(key, f"{section} key {key!r}", source)
        if address in balances:
            raise ConfigError(f"{source}: {section} lists {to_checksum_address(address)} twice")
        balances[address] = _amount(value, f"{section} {key}", source)
    if sum(balances.values()) > UINT256_MAX:
        raise ConfigError(f"{source}: {section} balances sum to more than 2^256 - 1")
    return tuple(sorted(balances.items()))


def _data_dir(node: Mapping[str, Any], source: str, base_dir: Path | None) -> Path:
    if "data_dir" not in node:
        raise ConfigError(f"{source}: [node] data_dir is required (where the L1 chain's RocksDB lives)")
    path = Path(_str(node, "node", "data_dir", "", source)).expanduser()
    return base_dir / path if base_dir is not None and not path.is_absolute() else path


def _log_level(node: Mapping[str, Any], source: str) -> str:
    level = _str(node, "node", "log_level", "INFO", source).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{source}: [node] log_level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return level
