"""The challenger's attestation side: its config sections, and flagging proposals that trusted attesters contradict."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.attestation import sign_attestation
from node.attestation_net import AttestationSection
from node.blocknet import load_p2p_section
from node.crypto import PrivateKey, to_checksum_address
from node.keys.hd import dev_account
from node.rpc.metrics import Metrics
from node.service import ConfigError
from prover.attestations import AttestationWatch
from prover.config import challenger_config_from_dict
from prover.games import OutputView

GOOD, BAD = b"\x01" * 32, b"\x02" * 32
A, B = PrivateKey(b"\x0a" * 32), PrivateKey(b"\x0b" * 32)
ROLLUP = {
    "chain_id": 901,
    "l1_chain_id": 900,
    "fee_recipient": to_checksum_address(dev_account(7).address),
    "min_fee": "1",
    "genesis": {},
}


def doc(**extra: object) -> dict[str, object]:
    return {
        "node": {"data_dir": "data"},
        "rollup": ROLLUP,
        "challenger": {"l1_rpc": "http://127.0.0.1:8545/", "key": "dev6"},
        **extra,
    }


def output(index: int, number: int, root: bytes, status: str = "pending") -> OutputView:
    return OutputView(index, number, root, b"\x09" * 20, 10**18, 5, 45, status)


def watch(attesters: frozenset[bytes] = frozenset()) -> tuple[AttestationWatch, list[OutputView]]:
    outputs = [output(0, 10, GOOD), output(1, 20, BAD), output(2, 30, BAD, status="finalized")]
    p2p = load_p2p_section({"p2p": {"seed": "challenger-test"}})
    assert p2p is not None
    section = AttestationSection(None, 10, attesters)
    return AttestationWatch(p2p, section, 901, lambda: 40, Metrics(), lambda: outputs), outputs


def test_config_sections(tmp_path: Path) -> None:
    plain = challenger_config_from_dict(doc(), tmp_path)
    assert plain.p2p is None and plain.attestation is None
    config = challenger_config_from_dict(
        doc(p2p={"seed": "challenger-0"}, attestation={"key": "0x" + "11" * 32}), tmp_path
    )
    assert config.p2p is not None and config.attestation is not None and config.attestation.key is not None
    with pytest.raises(ConfigError, match="needs a \\[p2p\\]"):
        challenger_config_from_dict(doc(attestation={}), tmp_path)
    with pytest.raises(ConfigError):
        challenger_config_from_dict(doc(p2p={"seed": "x"}, attestation={"output_interval": -1}), tmp_path)


def test_a_contradicted_live_proposal_wakes_the_referee_once() -> None:
    w, outputs = watch()
    pool = w.network.pool
    for key, number, root in ((A, 10, GOOD), (B, 10, GOOD), (A, 20, GOOD), (B, 20, BAD), (A, 30, GOOD)):
        pool.add(sign_attestation(key, 901, number, root), "p", 0.0)
    found = w.contradicted(outputs)
    assert [(o.index, same, other) for o, same, other in found] == [(1, 1, 1)]  # finalized output 2 is not live
    w.check(outputs)
    assert w.wake.is_set() and w.m_contradictions.value() == 1
    w.wake.clear()
    w.check(outputs)
    assert not w.wake.is_set()  # flagged once
    status = w.status(outputs)
    assert status["contradicted"][0] == {"index": 1, "l2BlockNumber": 20, "status": "pending", "same": 1, "other": 1}
    assert [(c["index"], c["status"]) for c in status["contradicted"][1:]] == [(2, "finalized")]  # settled: listed


def test_only_trusted_attesters_count() -> None:
    w, outputs = watch(attesters=frozenset({bytes(B.address)}))
    w.network.pool.add(sign_attestation(A, 901, 10, BAD), "p", 0.0)  # A contradicts output 0 but is not trusted
    assert w.contradicted(outputs) == []
    w.network.pool.add(sign_attestation(B, 901, 10, BAD), "p", 0.0)
    assert [o.index for o, _, _ in w.contradicted(outputs)] == [0]


def test_a_new_attestation_from_gossip_triggers_the_check() -> None:
    w, outputs = watch()
    attestation = sign_attestation(A, 901, 20, GOOD)
    w.network.pool.add(attestation, "p", 0.0)
    w._on_new(attestation)
    assert w.wake.is_set()
