"""The settler's config file: `[node]`, `[rollup]` and `[settler]`.

    [node]
    data_dir = "data/settler"      # holds settler_state.json (transactions in flight, an inbox checkpoint)
    rpc_host = "127.0.0.1"
    rpc_port = 9600                # /health, /metrics and settler_status
    log_level = "INFO"

    [rollup]                       # shared by every L2 process (node.rollup_config)
    ...

    [settler]
    l1_rpc = "http://127.0.0.1:8545/"          # required
    sequencer_rpc = "http://127.0.0.1:9545/"   # the fallback; optional with [p2p], required without
    batcher_key = "dev1"           # dev name, 0x private key, stored key name or keystore path
    proposer_key = "dev2"
    key_password_env = "SETTLER_KEY_PASSWORD"  # optional: env var holding keystore passwords
    output_interval = 10           # propose an output root every this many L2 blocks
    max_batch_bytes = 1048576      # capped at the L1's maxBatchBytes at start-up
    poll_ms = 250
    stuck_after_rounds = 20        # /health says "stuck" once a duty (batches, outputs) failed this many rounds
    bond = "1000000000000000000"   # optional; default: the L1's proposerBond
    gossip_fallback_ms = 3000      # with [p2p]: batches and outputs from the RPC once gossip is late this long

    [p2p]                          # optional, node.blocknet's section (as the executors'): follow blocks by gossip
    listen_port = 9646
    seed = "settler"
    bootstrap = ["/ip4/10.0.0.2/tcp/9645/p2p/12D3Koo..."]
    sequencer = "0x..."            # required here: the address whose signature gossiped blocks must carry

Without [p2p] every batch comes from the sequencer's JSON-RPC
(`rollup_getBatchBlocks`) and every output root from `rollup_outputAtBlock`;
with it, both from the signed blocks the settler holds (l1.settler.held,
l1.settler.verified), and the RPC, if `sequencer_rpc` is set, is the
fallback (l1.settler.held.choose_source). A settler with [p2p] needs only
the L1 URL and a bootstrap address: without `sequencer_rpc` it waits for
gossip and range sync instead of falling back.

Every bad value raises ConfigError naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.blocknet import P2PSection, load_p2p_section
from node.config_fields import read_key_password, read_optional_amount, read_signing_key, read_url
from node.crypto import PrivateKey
from node.rollup_config import NodeSection, RollupConfig, load_node_section, load_rollup_config
from node.service import DEFAULT_STUCK_AFTER_ROUNDS, ConfigError, load_toml

DEFAULT_OUTPUT_INTERVAL = 10
DEFAULT_MAX_BATCH_BYTES = 1024 * 1024
DEFAULT_POLL_MS = 250
DEFAULT_GOSSIP_FALLBACK_MS = 3000
UINT256_MAX = 2**256 - 1

_KEYS = frozenset(
    {
        "l1_rpc",
        "sequencer_rpc",
        "batcher_key",
        "proposer_key",
        "key_password_env",
        "output_interval",
        "max_batch_bytes",
        "poll_ms",
        "stuck_after_rounds",
        "bond",
        "gossip_fallback_ms",
    }
)


@dataclass(frozen=True, slots=True)
class SettlerSection:
    l1_rpc: str
    sequencer_rpc: str | None  # None: no RPC fallback (the settler then needs [p2p])
    batcher_key: PrivateKey
    proposer_key: PrivateKey
    output_interval: int
    max_batch_bytes: int
    poll_ms: int
    bond: int | None  # None: the L1's proposerBond
    stuck_after_rounds: int = DEFAULT_STUCK_AFTER_ROUNDS
    gossip_fallback_ms: int = DEFAULT_GOSSIP_FALLBACK_MS


@dataclass(frozen=True, slots=True)
class SettlerConfig:
    node: NodeSection
    rollup: RollupConfig
    settler: SettlerSection
    p2p: P2PSection | None = None


def load_settler_config(path: Path | str) -> SettlerConfig:
    return settler_config_from_dict(load_toml(path), Path(path).parent)


def settler_config_from_dict(doc: Mapping[str, Any], base_dir: Path | None = None) -> SettlerConfig:
    """`base_dir`: where relative paths point from (the config file's directory)."""
    p2p = load_p2p_section(doc)
    if p2p is not None and p2p.sequencer is None:
        raise ConfigError("p2p.sequencer (the address that signs gossiped blocks) is required for the settler")
    settler = load_settler_section(doc)
    if settler.sequencer_rpc is None and p2p is None:
        raise ConfigError(
            "the settler needs blocks from somewhere: set settler.sequencer_rpc, or a [p2p] section "
            "(bootstrap peers and the sequencer's address) to follow the sequencer's blocks by gossip"
        )
    return SettlerConfig(
        node=load_node_section(doc, base_dir), rollup=load_rollup_config(doc), settler=settler, p2p=p2p
    )


def load_settler_section(doc: Mapping[str, Any]) -> SettlerSection:
    section = doc.get("settler")
    if not isinstance(section, Mapping):
        raise ConfigError("config has no [settler] section")
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise ConfigError(f"[settler] has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
    password = _password(section)
    return SettlerSection(
        l1_rpc=_url(section, "l1_rpc"),
        sequencer_rpc=_url(section, "sequencer_rpc") if "sequencer_rpc" in section else None,
        batcher_key=_key(section, "batcher_key", password),
        proposer_key=_key(section, "proposer_key", password),
        output_interval=_int(section, "output_interval", DEFAULT_OUTPUT_INTERVAL, 1, 10**9),
        max_batch_bytes=_int(section, "max_batch_bytes", DEFAULT_MAX_BATCH_BYTES, 1024, 64 * 1024 * 1024),
        poll_ms=_int(section, "poll_ms", DEFAULT_POLL_MS, 10, 60_000),
        bond=_optional_amount(section, "bond"),
        stuck_after_rounds=_int(section, "stuck_after_rounds", DEFAULT_STUCK_AFTER_ROUNDS, 1, 10**6),
        gossip_fallback_ms=_int(section, "gossip_fallback_ms", DEFAULT_GOSSIP_FALLBACK_MS, 0, 3_600_000),
    )


# -- field readers --


def _int(section: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"settler.{key} must be an integer (got {value!r})")
    if not low <= value <= high:
        raise ConfigError(f"settler.{key} = {value} is outside [{low}, {high}]")
    return value


def _url(section: Mapping[str, Any], key: str) -> str:
    return read_url(section, "settler", key)


def _optional_amount(section: Mapping[str, Any], key: str) -> int | None:
    return read_optional_amount(section, "settler", key)


def _password(section: Mapping[str, Any]) -> str | None:
    return read_key_password(section, "settler")


def _key(section: Mapping[str, Any], key: str, password: str | None) -> PrivateKey:
    return read_signing_key(section, "settler", key, password)
