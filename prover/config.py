"""The challenger's config file: `[node]`, `[rollup]` and `[challenger]`.

    [node]
    data_dir = "data/challenger"   # its own chain database (derived from L1 only)
    rpc_host = "127.0.0.1"
    rpc_port = 9700                # /health, /metrics, challenger_status, rollup_* reads
    log_level = "INFO"

    [rollup]                       # shared by every L2 process (node.rollup_config)
    ...

    [challenger]
    l1_rpc = "http://127.0.0.1:8545/"      # required; the only data source
    key = "dev6"                   # dev name, 0x private key, stored key name or keystore path
    key_password_env = "CHALLENGER_KEY_PASSWORD"   # optional
    bond = "1000000000000000000"   # optional counter-bond; default: the L1's proposerBond
    poll_ms = 250
    history_window = 100000        # L2 blocks of state kept for traces (>= the challenge window's worth)
    defend = true                  # play the defender side of games against correct outputs
    allies = ["0x..", ...]         # optional: L1 addresses of allied challengers (prover.allies): one bond
                                   # per wrong output among us, while the ally in the dispute keeps up
    backstop_blocks = 5            # L1 blocks of margin before an ally's clock or the window runs out
    ally_stagger_blocks = 2        # L1 blocks per rank we wait for a better-ranked ally's dispute

    [p2p]                          # optional: join the gossip network (as node.blocknet's [p2p]; no sequencer)
    [attestation]                  # optional, needs [p2p]: collect/sign output attestations (prover.attestations)

Every bad value raises ConfigError naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.attestation_net import AttestationSection, load_attestation_section
from node.blocknet import P2PSection, load_p2p_section
from node.config_fields import read_key_password, read_optional_amount, read_signing_key, read_url
from node.crypto import CryptoError, PrivateKey, parse_address
from node.rollup_config import NodeSection, RollupConfig, load_node_section, load_rollup_config
from node.service import ConfigError, load_toml
from prover.allies import DEFAULT_BACKSTOP_BLOCKS, DEFAULT_STAGGER_BLOCKS, AllyPolicy

DEFAULT_POLL_MS = 250
DEFAULT_HISTORY_WINDOW = 100_000
UINT256_MAX = 2**256 - 1

_KEYS = frozenset(
    {
        "l1_rpc",
        "key",
        "key_password_env",
        "bond",
        "poll_ms",
        "history_window",
        "defend",
        "allies",
        "backstop_blocks",
        "ally_stagger_blocks",
    }
)


@dataclass(frozen=True, slots=True)
class ChallengerSection:
    l1_rpc: str
    key: PrivateKey
    bond: int | None  # None: the L1's proposer bond
    poll_ms: int
    history_window: int
    defend: bool
    allies: AllyPolicy = AllyPolicy()


@dataclass(frozen=True, slots=True)
class ChallengerConfig:
    node: NodeSection
    rollup: RollupConfig
    challenger: ChallengerSection
    p2p: P2PSection | None = None
    attestation: AttestationSection | None = None


def load_challenger_config(path: Path | str) -> ChallengerConfig:
    return challenger_config_from_dict(load_toml(path), Path(path).parent)


def challenger_config_from_dict(doc: Mapping[str, Any], base_dir: Path | None = None) -> ChallengerConfig:
    p2p = load_p2p_section(doc)
    attestation = load_attestation_section(doc)
    if attestation is not None and p2p is None:
        raise ConfigError("[attestation] needs a [p2p] section (attestations are gossiped)")
    return ChallengerConfig(
        load_node_section(doc, base_dir), load_rollup_config(doc), load_challenger_section(doc), p2p, attestation
    )


def load_challenger_section(doc: Mapping[str, Any]) -> ChallengerSection:
    section = doc.get("challenger")
    if not isinstance(section, Mapping):
        raise ConfigError("config has no [challenger] section")
    unknown = sorted(set(section) - _KEYS)
    if unknown:
        raise ConfigError(f"[challenger] has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
    return ChallengerSection(
        l1_rpc=_url(section, "l1_rpc"),
        key=_key(section, "key", _password(section)),
        bond=_optional_amount(section, "bond"),
        poll_ms=_int(section, "poll_ms", DEFAULT_POLL_MS, 10, 60_000),
        history_window=_int(section, "history_window", DEFAULT_HISTORY_WINDOW, 64, 10**9),
        defend=_bool(section, "defend", True),
        allies=AllyPolicy(
            _addresses(section, "allies"),
            _int(section, "backstop_blocks", DEFAULT_BACKSTOP_BLOCKS, 1, 1_000_000),
            _int(section, "ally_stagger_blocks", DEFAULT_STAGGER_BLOCKS, 1, 1_000_000),
        ),
    )


def _int(section: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"challenger.{key} must be an integer (got {value!r})")
    if not low <= value <= high:
        raise ConfigError(f"challenger.{key} = {value} is outside [{low}, {high}]")
    return value


def _bool(section: Mapping[str, Any], key: str, default: bool) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"challenger.{key} must be true or false (got {value!r})")
    return value


def _addresses(section: Mapping[str, Any], key: str) -> frozenset[bytes]:
    value = section.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"challenger.{key} must be a list of 0x addresses (got {value!r})")
    try:
        return frozenset(bytes(parse_address(item)) for item in value)
    except CryptoError as exc:
        raise ConfigError(f"challenger.{key}: {exc}") from None


def _url(section: Mapping[str, Any], key: str) -> str:
    return read_url(section, "challenger", key)


def _optional_amount(section: Mapping[str, Any], key: str) -> int | None:
    return read_optional_amount(section, "challenger", key)


def _password(section: Mapping[str, Any]) -> str | None:
    return read_key_password(section, "challenger")


def _key(section: Mapping[str, Any], key: str, password: str | None) -> PrivateKey:
    return read_signing_key(section, "challenger", key, password)
