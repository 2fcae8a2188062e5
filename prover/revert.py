"""The challenger's in-process snapshot and revert (node.devnet.inproc.reloadable over prover.challenger.Challenger).

Hold: the referee loop is stopped, so no dispute, move or proof goes to the L1 while the devnet is
held or reverted (one decided on the abandoned chain must never land on the reverted L1), and the
derivation loop too (between two L1 blocks), so nothing writes the store while it is copied.
Loops: derivation and the referee. The attestation journal (<data_dir>/attestations.journal) is closed with the store.
Reopen does what start-up does before the RPC server: the chain follower opened again (the same
object: the RPC's withdrawal proofs are bound to it), the L1 dispute contracts' params read again,
a new oracle, conduct and referee (its state moved into the first referee, which the metrics
read), the finalized head found again, the attestation pool replayed from the copy's journal. The
libp2p host and the RPC server are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from node.attestation import Attestation
from node.attestation_pool import AttestationPool
from node.devnet.inproc.known import KnownMessages, pool_messages
from node.service import ProblemTracker
from node.store.kv import KVStore
from prover.conduct import HonestConduct
from prover.l1_disputes import L1Disputes
from prover.oracle import TraceOracle
from prover.referee import Referee

if TYPE_CHECKING:
    from prover.challenger import Challenger

log = logging.getLogger("challenger")

DERIVATION = "derivation"
REFEREE = "referee"


class ChallengerReload:
    def __init__(self, challenger: Challenger) -> None:
        self.challenger = challenger
        self._held = False
        self._loops = True  # the loops run (false between stop_loops and start_loops)
        self._known: KnownMessages[Attestation] = KnownMessages()  # the attestation pool's messages at each hold

    @property
    def data_dir(self) -> Path:
        return Path(self.challenger.config.node.data_dir)

    @property
    def held(self) -> bool:
        return self._held

    async def hold(self) -> None:
        if not self._held:
            if self.challenger.watch is not None:
                self._known.remember(pool_messages(self.challenger.watch.network.pool))
            await self.challenger.tasks.cancel_named([REFEREE, DERIVATION])
            self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            if self._loops:
                self._spawn_loops()

    def stores(self) -> Sequence[KVStore]:
        store = self.challenger.follower.store
        return [store.kv] if store is not None else []

    async def stop_loops(self) -> None:
        await self.challenger.tasks.cancel_named([DERIVATION, REFEREE])
        self._loops = False

    def close_stores(self) -> None:
        ch = self.challenger
        ch.follower.close()
        if ch.watch is not None and ch.watch.network.journal is not None:
            ch.watch.network.journal.close()

    async def reopen(self) -> None:
        ch = self.challenger
        await ch.follower.open()
        ch.disputes = L1Disputes(ch.l1, ch.section.key, ch.section.bond)
        await ch.disputes.load_params()
        oracle = TraceOracle(ch.follower.require_store(), ch.config.rollup.chain_config())
        conduct = ch.make_conduct(oracle) if ch.make_conduct is not None else HonestConduct(oracle, ch.section.defend)
        ch.conduct = conduct
        referee = Referee(ch.disputes, oracle, ch.me, conduct, ch.section.allies, ch._notice_hooks())
        if ch.referee is not None:
            vars(ch.referee).update(vars(referee))  # the metrics read the first referee
        else:
            ch.referee = referee
        ch._finalized = None
        ch.derivation_problems = ProblemTracker("challenger derivation", log)
        ch.referee_problems = ProblemTracker("challenger referee", log)
        if ch.watch is not None:
            ch.watch.network.pool = AttestationPool()
            ch.watch.network.replay_journal(self._known.snapshot())  # what it held at a hold: not validated again
            await ch.watch.node.forget_gossip_history()  # no attestation of the abandoned chain is served again
        # still held (the loops stay stopped until release): the hold belongs to this object, not the store
        log.info("devnet: challenger reopened in place, safe head %d", ch.follower.safe_head().number)

    def start_loops(self) -> None:
        self._loops = True
        if not self._held:
            self._spawn_loops()

    def _spawn_loops(self) -> None:
        self.challenger.tasks.spawn(DERIVATION, self.challenger._derivation_loop())
        referee = self.challenger.referee
        if referee is not None:
            self.challenger.tasks.spawn(REFEREE, self.challenger._referee_loop(referee))

    def fail(self, exc: BaseException) -> None:
        self.challenger.tasks.fail(exc)


__all__ = ["ChallengerReload"]
