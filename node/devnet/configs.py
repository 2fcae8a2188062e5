"""The TOML config of each devnet process, as documents (dicts) and written files.

All paths are absolute, so a process finds its data whatever its working
directory. The `[rollup]` table is the same in every L2 process's config.

Only here is the chain rule `devnet_overrides = true` written (in `[rollup]`
and its `[l1.rollup]` copy): a devnet's chain accepts balance overrides
(node.stf.chain_rules, l1.contracts.devnet_overrides); every other chain,
by default, refuses them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from node.crypto import to_checksum_address
from node.devnet import params as p
from node.devnet.layout import (
    FAULTY_CHALLENGER,
    HONEST_CHALLENGER,
    ROLE_CHALLENGER,
    ROLE_EXECUTOR,
    ROLE_L1,
    ROLE_SEQUENCER,
    ROLE_SETTLER,
    ProcessSpec,
)
from node.devnet.toml import dumps
from node.p2p.identity import derive_seed, make_multiaddr, peer_id_from_seed

LOG_LEVEL = "INFO"


def node_section(spec: ProcessSpec) -> dict[str, Any]:
    node = {"data_dir": str(spec.data_dir), "rpc_host": p.RPC_HOST, "rpc_port": spec.port, "log_level": LOG_LEVEL}
    return {**node, "devnet": True}  # every devnet process serves the devnet_* control methods (node.rpc.control)


def rollup_section() -> dict[str, Any]:
    return {
        "chain_id": p.L2_CHAIN_ID,
        "l1_chain_id": p.L1_CHAIN_ID,
        "fee_recipient": to_checksum_address(p.fee_recipient()),
        "min_fee": str(p.L2_MIN_FEE),
        "max_sequencer_drift_ms": p.MAX_SEQUENCER_DRIFT_MS,
        "sequencing_window": p.SEQUENCING_WINDOW,
        "genesis": {to_checksum_address(addr): str(balance) for addr, balance in p.l2_genesis().items()},
        "devnet_overrides": True,  # chain rule: L1 set_l2_balance sets any L2 balance (a devnet's only)
    }


def venue_section() -> dict[str, Any]:
    """The [venue] table: markets, oracle key and insurance fund (node.venue.markets), in every L2 config."""
    return {
        "oracle": to_checksum_address(p.venue_oracle_address()),
        "insurance_fund": to_checksum_address(p.insurance_fund_address()),
        "markets": [dict(market) for market in p.VENUE_MARKETS],
    }


def l1_config(spec: ProcessSpec, settings: p.DevnetSettings | None = None) -> dict[str, Any]:
    settings = settings if settings is not None else p.DevnetSettings()
    rollup = rollup_section()
    return {
        "node": node_section(spec),
        "l1": {
            "chain_id": p.L1_CHAIN_ID,
            "block_time_ms": settings.l1_block_time_ms,
            "min_fee": str(p.L1_MIN_FEE),
            "batcher": p.BATCHER_KEY,
            "proposer": p.PROPOSER_KEY,
            "proposer_bond": str(p.PROPOSER_BOND),
            "challenge_window": settings.challenge_window,
            "max_batch_bytes": p.L1_MAX_BATCH_BYTES,
            "game_clock_blocks": settings.game_clock,
            "genesis": {to_checksum_address(addr): str(balance) for addr, balance in p.l1_genesis().items()},
            # the L2's chain config, which the one-step verifier runs the state transition with, and its
            # genesis allocation, from which the L1 computes the L2 genesis output root at startup
            # (so even the first output can be disputed)
            "rollup": {
                **{
                    key: rollup[key]
                    for key in (
                        "chain_id",
                        "fee_recipient",
                        "min_fee",
                        "genesis",
                        "sequencing_window",
                        "max_sequencer_drift_ms",
                        "devnet_overrides",
                    )
                },
                "venue": venue_section(),
            },
        },
    }


def sequencer_config(spec: ProcessSpec, l1: ProcessSpec, settings: p.DevnetSettings) -> dict[str, Any]:
    section: dict[str, Any] = {
        "l1_rpc": l1.rpc,
        "block_time_ms": settings.block_time_ms,
        "key": "0x" + p.sequencer_gossip_key().secret.hex(),
    }
    if settings.censor:
        section["censor"] = list(settings.censor)
    return {
        "node": node_section(spec),
        "rollup": rollup_section(),
        "venue": venue_section(),
        "sequencer": section,
        "p2p": p2p_section(spec, settings),
    }


def p2p_ports(specs: list[ProcessSpec], settings: p.DevnetSettings) -> list[tuple[int, str]]:
    """(port, name) of every libp2p listener the devnet plans."""
    return [
        (p2p_port(spec, settings), f"{spec.name} p2p")
        for spec in specs
        if spec.role in (ROLE_SEQUENCER, ROLE_EXECUTOR, ROLE_SETTLER) or spec.name == HONEST_CHALLENGER
    ]


def p2p_port(spec: ProcessSpec, settings: p.DevnetSettings) -> int:
    if spec.role == ROLE_SEQUENCER:
        return settings.base_port + p.P2P_PORT_OFFSET
    if spec.role == ROLE_SETTLER:
        return settings.base_port + p.SETTLER_P2P_PORT_OFFSET
    if spec.name == HONEST_CHALLENGER:
        return settings.base_port + p.CHALLENGER_P2P_PORT_OFFSET
    return settings.base_port + p.P2P_PORT_OFFSET + 1 + int(spec.name.rsplit("-", 1)[1])


def p2p_multiaddr(name: str, port: int) -> str:
    return make_multiaddr(port, peer_id_from_seed(derive_seed(p.p2p_seed_label(name))))


def p2p_section(spec: ProcessSpec, settings: p.DevnetSettings) -> dict[str, Any]:
    """Every executor bootstraps to the sequencer only and finds the others by peer exchange (discovery)."""
    section: dict[str, Any] = {
        "listen_port": p2p_port(spec, settings),
        "seed": p.p2p_seed_label(spec.name),
        "discovery": True,
    }
    if spec.role == ROLE_EXECUTOR:
        section["bootstrap"] = [p2p_multiaddr("sequencer", settings.base_port + p.P2P_PORT_OFFSET)]
        section["sequencer"] = to_checksum_address(p.sequencer_gossip_key().address)
    return section


def settler_config(
    spec: ProcessSpec, l1: ProcessSpec, sequencer: ProcessSpec, settings: p.DevnetSettings | None = None
) -> dict[str, Any]:
    section: dict[str, Any] = {
        "l1_rpc": l1.rpc,
        "sequencer_rpc": sequencer.rpc,
        "batcher_key": p.BATCHER_KEY,
        "proposer_key": p.PROPOSER_KEY,
        "output_interval": p.OUTPUT_INTERVAL,
    }
    doc = {"node": node_section(spec), "rollup": rollup_section(), "venue": venue_section(), "settler": section}
    if settings is not None:  # a gossip peer: its batches come from the sequencer's signed blocks
        doc["p2p"] = settler_p2p_section(spec, settings)
    if settings is not None and settings.faulty_proposer is not None:  # run by l1.faults.settler (test only)
        doc["faults"] = {"proposer_from_block": settings.faulty_proposer, "proposer_mode": settings.fault_mode}
    return doc


def settler_p2p_section(spec: ProcessSpec, settings: p.DevnetSettings) -> dict[str, Any]:
    """The settler needs only the sequencer as bootstrap peer (and the address that signs blocks)."""
    return {
        "listen_port": p2p_port(spec, settings),
        "seed": p.p2p_seed_label(spec.name),
        "bootstrap": [p2p_multiaddr("sequencer", settings.base_port + p.P2P_PORT_OFFSET)],
        "sequencer": to_checksum_address(p.sequencer_gossip_key().address),
        "discovery": True,
    }


def challenger_config(spec: ProcessSpec, l1: ProcessSpec, settings: p.DevnetSettings) -> dict[str, Any]:
    """The honest challenger also joins the gossip network for output attestations (prover.attestations)."""
    faulty = spec.name == FAULTY_CHALLENGER
    doc: dict[str, Any] = {
        "node": node_section(spec),
        "rollup": rollup_section(),
        "venue": venue_section(),
        "challenger": {
            "l1_rpc": l1.rpc,
            "key": p.FAULTY_CHALLENGER_KEY if faulty else p.CHALLENGER_KEY,
            "poll_ms": max(50, min(250, settings.l1_block_time_ms // 4)),
        },
    }
    if spec.name == HONEST_CHALLENGER:
        doc["p2p"] = challenger_p2p_section(spec, settings)
        doc["attestation"] = attestation_section(spec)
    return doc


def challenger_p2p_section(spec: ProcessSpec, settings: p.DevnetSettings) -> dict[str, Any]:
    """Bootstraps to the sequencer and every executor (the attesters); it needs no blocks from them."""
    base = settings.base_port + p.P2P_PORT_OFFSET
    bootstrap = [p2p_multiaddr("sequencer", base)]
    bootstrap += [p2p_multiaddr(f"executor-{i}", base + 1 + i) for i in range(settings.executors)]
    return {"listen_port": p2p_port(spec, settings), "seed": p.p2p_seed_label(spec.name), "bootstrap": bootstrap}


def executor_config(
    spec: ProcessSpec, l1: ProcessSpec, sequencer: ProcessSpec, settings: p.DevnetSettings
) -> dict[str, Any]:
    return {
        "node": node_section(spec),
        "rollup": rollup_section(),
        "venue": venue_section(),
        "executor": {"l1_rpc": l1.rpc, "sequencer_rpc": sequencer.rpc},
        "p2p": p2p_section(spec, settings),
        "attestation": attestation_section(spec),
    }


def attestation_section(spec: ProcessSpec) -> dict[str, Any]:
    """A distinct dev key per process (public, like the dev accounts); any signer accepted (node.attestation_net)."""
    key = hashlib.sha256(f"rollup-devnet attester {spec.name}".encode()).hexdigest()
    return {"key": "0x" + key, "output_interval": p.OUTPUT_INTERVAL}


def config_documents(specs: list[ProcessSpec], settings: p.DevnetSettings) -> dict[str, dict[str, Any]]:
    """Each process's config document, by process name."""
    by_role = {spec.role: spec for spec in specs if spec.role not in (ROLE_EXECUTOR, ROLE_CHALLENGER)}
    l1, sequencer = by_role[ROLE_L1], by_role[ROLE_SEQUENCER]
    docs: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if spec.role == ROLE_L1:
            docs[spec.name] = l1_config(spec, settings)
        elif spec.role == ROLE_SEQUENCER:
            docs[spec.name] = sequencer_config(spec, l1, settings)
        elif spec.role == ROLE_SETTLER:
            docs[spec.name] = settler_config(spec, l1, sequencer, settings)
        elif spec.role == ROLE_CHALLENGER:
            docs[spec.name] = challenger_config(spec, l1, settings)
        else:
            docs[spec.name] = executor_config(spec, l1, sequencer, settings)
    return docs


def write_configs(specs: list[ProcessSpec], settings: p.DevnetSettings) -> None:
    """Write every config file (atomically each) and create the data and log directories."""
    docs = config_documents(specs, settings)
    for spec in specs:
        spec.config.parent.mkdir(parents=True, exist_ok=True)
        spec.log.parent.mkdir(parents=True, exist_ok=True)
        spec.data_dir.mkdir(parents=True, exist_ok=True)
        _write_atomic(spec.config, dumps(docs[spec.name]))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
