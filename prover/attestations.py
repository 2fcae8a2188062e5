"""The challenger's gossip side: collect output attestations, publish its own, flag contradicted proposals.

Optional: with `[p2p]` (listen_port, seed, bootstrap; as an executor's, no
sequencer needed) and `[attestation]` (node.attestation_net) in the
challenger's config, it joins the rollup's gossip network, pools the
attestations of the topic `/rollup/<chain>/attestations/1`, and signs its
own derived output roots when `attestation.key` is set.

The pool is journaled in `<data_dir>/attestations.journal` (unless
`attestation.journal` names another file), so a restart keeps it and the
equivocation evidence; missed attestations are fetched from a peer by range
sync (node.attestation_sync).

Trust: the signers in `attestation.attesters` (all signers when empty). An
L1 proposal is *contradicted* when a trusted signer attested to another
root at its block. A contradiction never makes the challenger dispute by
itself: it wakes the referee at once (instead of at its next poll) and the
referee disputes only when its own chain (prover.oracle) gives the same
verdict. `challenger_status.attestations` lists the contradicted proposals
(with their status: settled ones stay listed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from node.attestation import Attestation
from node.attestation_net import AttestationNetwork, AttestationSection
from node.blocknet import P2PSection
from node.p2p import P2PConfig, P2PNode
from node.rpc.metrics import Metrics
from prover.games import OutputView

log = logging.getLogger("challenger")

LIVE = ("pending", "disputed")


class AttestationWatch:
    def __init__(
        self,
        p2p: P2PSection,
        section: AttestationSection,
        chain_id: int,
        head: Callable[[], int],
        metrics: Metrics,
        outputs: Callable[[], Iterable[OutputView]],
        journal: Path | None = None,
    ) -> None:
        self.node = P2PNode(
            P2PConfig(seed=p2p.seed, listen_host=p2p.listen_host, listen_port=p2p.listen_port, bootstrap=p2p.bootstrap)
        )
        self.section = section
        self.wake = asyncio.Event()
        self._outputs = outputs
        self.network = AttestationNetwork(
            self.node, section, chain_id, head, metrics, on_new=self._on_new, journal=journal
        )
        self.m_contradictions = metrics.counter(
            "attestation_contradictions_total", "L1 proposals found contradicted by a trusted attester"
        )
        self._flagged: set[int] = set()

    async def start(self) -> None:
        await self.node.__aenter__()
        await self.network.start()
        log.info("attestations: gossip on %s as %s", self.network.topic, self.node.listen_addr)

    async def close(self) -> None:
        await self.network.close()
        with contextlib.suppress(Exception):
            await self.node.__aexit__(None, None, None)

    @property
    def trusted(self) -> frozenset[bytes] | None:
        return self.section.attesters or None

    def contradicted(self, outputs: Iterable[OutputView], live_only: bool = True) -> list[tuple[OutputView, int, int]]:
        """(output, same, other) for each (live) output a trusted attester contradicts."""
        found = []
        for output in outputs:
            if live_only and output.status not in LIVE:
                continue
            tally = self.network.pool.tally(output.l2_block_number, output.output_root, self.trusted)
            if tally.disagree:
                found.append((output, len(tally.agree), len(tally.disagree)))
        return found

    def check(self, outputs: Iterable[OutputView]) -> None:
        """Wake the referee for a newly contradicted live proposal (it then checks with its own chain)."""
        for output, same, other in self.contradicted(outputs):
            if output.index in self._flagged:
                continue
            self._flagged.add(output.index)
            self.m_contradictions.inc()
            log.warning(
                "output %d (L2 block %d): %d trusted attester(s) signed another root, %d the same: checking it now",
                output.index,
                output.l2_block_number,
                other,
                same,
            )
            self.wake.set()

    def _on_new(self, attestation: Attestation) -> None:
        self.check(o for o in self._outputs() if o.l2_block_number == attestation.l2_block_number)

    def status(self, outputs: Iterable[OutputView]) -> dict[str, object]:
        return {
            "peers": len(self.node.peers()),
            "heights": len(self.network.pool.heights()),
            "rejected": {k: v for k, v in self.network.rejected().items() if v},
            "contradicted": [  # settled ones too (a defeated output stays listed, with its status)
                {"index": o.index, "l2BlockNumber": o.l2_block_number, "status": o.status, "same": same, "other": other}
                for o, same, other in self.contradicted(outputs, live_only=False)
            ],
        }
