"""Compare an L1 output proposal with the attestations peers gossiped for its block (pure).

Input: the `rollup_getAttestations` answers of one or more nodes for the
proposal's L2 block (node.attestation_net.attestations_report). The same
signer seen by several nodes counts once; a signer reported with two roots,
or named in an equivocation, is listed under `equivocators` and counts for
neither side. A proposal is `contradicted` when at least one signer
attested to another root.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ProposalAttestations:
    l2_block_number: int
    same: tuple[str, ...]  # checksummed signers that attested to the proposed root
    other: tuple[tuple[str, str], ...]  # (signer, their root) for signers that attested to another root
    equivocators: tuple[str, ...]

    @property
    def contradicted(self) -> bool:
        return bool(self.other)

    def to_json(self) -> dict[str, Any]:
        return {
            "same": list(self.same),
            "other": [{"signer": s, "outputRoot": r} for s, r in self.other],
            "equivocators": list(self.equivocators),
            "contradicted": self.contradicted,
        }

    def cell(self) -> str:
        """`same/other` for a table, `!` appended when contradicted."""
        return f"{len(self.same)}/{len(self.other)}" + ("!" if self.contradicted else "")


def compare_attestations(
    l2_block_number: int, proposed_root: bytes, reports: Iterable[Mapping[str, Any]]
) -> ProposalAttestations:
    """Raises KeyError/TypeError/ValueError on a report that is not shaped like rollup_getAttestations'."""
    roots: dict[str, set[str]] = {}
    equivocators: set[str] = set()
    for report in reports:
        for item in report["attestations"]:
            roots.setdefault(str(item["signer"]).lower(), set()).add(str(item["outputRoot"]).lower())
        for evidence in report.get("equivocations", []):
            equivocators.add(str(evidence["signer"]).lower())
    equivocators |= {signer for signer, seen in roots.items() if len(seen) > 1}
    proposed = "0x" + proposed_root.hex()
    same = sorted(s for s, seen in roots.items() if s not in equivocators and seen == {proposed})
    other = sorted((s, next(iter(seen))) for s, seen in roots.items() if s not in equivocators and seen != {proposed})
    return ProposalAttestations(l2_block_number, tuple(same), tuple(other), tuple(sorted(equivocators)))
