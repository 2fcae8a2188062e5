"""The settler's faulty-proposer test mode: one wrong output, its dishonest defence, then the right root.

    [faults] proposer_from_block = N, proposer_mode = "tx_post_state" | "garbage"   (python -m l1.faults.settler)

1. The first output due at or after L2 block N is proposed with a wrong
   root (l1.faults.trace computes it over a replica of the sequencer's
   blocks, l1.faults.replica). Later outputs are held back meanwhile, so a
   correct root for that block can still be proposed after a defeat.
2. While the wrong output is disputed, the settler plays the defender with
   moves consistent with its wrong history (l1.faults.defence).
3. Defeated: the settler proposes the correct root for that block again and
   goes on honestly. Finalized unchallenged: it goes on (the fraud stands).

State (`settler_fault.json`: target block, fault range, the wrong root) is
written before the wrong proposal is sent, so a restarted settler picks up
the same game; the replica is on disk and the wrong history is recomputed
from it (the garbage root is stored).

Switched at run time (devnet_setFaultyProposer, l1.settler.control): a
proposer built with `from_block=None` is disarmed (honest) until
`set_fault_mode("tx" | "garbage", next_output)` arms it from the next output
on; while armed, each fault that is settled (defeated and re-proposed
honestly, or finalized) re-arms it from the block after that fault, so
every output is wrong in turn until `set_fault_mode(None, ...)`. A wrong
output already proposed keeps being defended. The switch is saved in
`settler_devnet_fault.json` (a restarted settler keeps it); a settled
fault's state moves to `settler_fault.<block>.json`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from l1.contracts.client import GameInfo, L1Client, OutputReport
from l1.contracts.payloads import GameMove, ResolveGame
from l1.faults.defence import decide_defense
from l1.faults.replica import BlockReplica
from l1.faults.trace import FaultMode, FaultyTrace, compute_faulty_trace
from l1.settler.config import SettlerConfig
from node.crypto import Hash32, PrivateKey, parse_hex
from node.fraud.game import Claim, OpenOutputs
from node.rpc.client import RpcClient

log = logging.getLogger("settler.faulty")

STATE_FILE = "settler_fault.json"
SWITCH_FILE = "settler_devnet_fault.json"
MODES = {"tx": FaultMode.TX_POST_STATE, "garbage": FaultMode.GARBAGE}  # devnet_setFaultyProposer's names
RECEIPT_TIMEOUT_S = 15.0
LIVE = frozenset({"pending", "disputed", "finalized"})


class FaultStateError(Exception):
    """settler_fault.json is unreadable."""


@dataclass(frozen=True, slots=True)
class FaultState:
    target: int  # the L2 block of the wrong proposal
    first: int  # the fault lies in blocks first..target (else earliest..first-1)
    wrong_root: str  # 0x hex
    garbage: bool
    earliest: int | None = None  # the block after the previous proposal
    settled: str | None = None  # None while open; "defeated" / "finalized" once decided


def load_fault_state(path: Path) -> FaultState | None:
    try:
        return FaultState(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise FaultStateError(f"{path} is unreadable: {exc}") from None


def save_fault_state(path: Path, state: FaultState) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state)))
    os.replace(tmp, path)


def load_switch(path: Path) -> tuple[str | None, int | None]:
    """The saved run-time switch: (mode name or None, the block it applies from or None)."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        raise FaultStateError(f"{path} is unreadable: {exc}") from None
    mode, from_block = doc.get("mode") if isinstance(doc, dict) else None, doc.get("from_block")
    if mode not in (None, *MODES) or not (from_block is None or isinstance(from_block, int)):
        raise FaultStateError(f"{path} holds an invalid switch: {doc!r}")
    return mode, from_block


class FaultyProposer:
    def __init__(
        self, config: SettlerConfig, from_block: int | None, mode: FaultMode, l1: L1Client, sequencer: RpcClient
    ) -> None:
        self.from_block = from_block  # None: disarmed (honest) until set_fault_mode arms it
        self.mode = mode
        self.switch: str | None = None  # the run-time mode name while switched on (re-arms after each fault)
        self.switch_path = config.node.data_dir / SWITCH_FILE
        self.chain_config = config.rollup.chain_config()
        self.rules = config.rollup.rules
        self.l1 = l1
        self.sequencer = sequencer
        self.replica = BlockReplica(config.node.data_dir, config.rollup)
        self.state_path = config.node.data_dir / STATE_FILE
        self.state: FaultState | None = None
        self.trace: FaultyTrace | None = None
        self._last_phase = ""
        self._done = False

    async def open(self) -> None:
        genesis = await self.l1.get_block(0)
        if genesis is None:
            raise FaultStateError("the L1 has no genesis block yet")
        self.replica.open(genesis.timestamp_ms, genesis.hash)
        self.state = load_fault_state(self.state_path)
        if self.state is not None and self.state.settled is None:
            await self._rebuild_trace(self.state)
        switch, switch_from = load_switch(self.switch_path)
        if switch is not None or switch_from is not None:
            self.switch, self.from_block = switch, switch_from
            self.mode = MODES[switch] if switch is not None else self.mode
        if self.from_block is None and self.state is None:
            log.info("faulty proposer disarmed: proposing correct roots until devnet_setFaultyProposer")
            return
        log.warning(
            "FAULTY PROPOSER mode %s: the first output at or after L2 block %s gets a wrong root%s",
            self.mode.value,
            self.from_block,
            ""
            if self.state is None
            else f" (already proposed for block {self.state.target}, {self.state.settled or 'open'})",
        )

    # -- the run-time switch (devnet) --

    def set_fault_mode(self, mode: str | None, next_output: int) -> int:
        """Propose wrong roots (mode "tx" | "garbage") or correct ones (None) from `next_output` on.

        Returns the L2 block it applies from: `next_output`, or the block
        after a wrong output still being played (which is defended either way).
        """
        if mode is not None and mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; known: {', '.join(MODES)}")
        playing = self.state is not None and not (self.state.settled is not None and self._done)
        if self.state is not None and not playing:
            self._archive()
        start = self.state.target + 1 if self.state is not None else next_output
        self.switch = mode
        if mode is not None:
            self.mode = MODES[mode]
        self.from_block = None if mode is None else start
        self._save_switch()
        log.warning(
            "FAULTY PROPOSER switched %s from L2 block %d",
            f"on (mode {self.mode.value})" if mode is not None else "off",
            start,
        )
        return start

    def _save_switch(self) -> None:
        tmp = self.switch_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"mode": self.switch, "from_block": self.from_block}))
        os.replace(tmp, self.switch_path)

    def _archive(self) -> None:
        """Put a settled fault aside (settler_fault.<block>.json) so that the next one starts afresh."""
        if self.state is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.state_path, self.state_path.with_name(f"settler_fault.{self.state.target}.json"))
        self.state, self.trace, self._done = None, None, False

    def _rearm_after(self, target: int) -> None:
        """While switched on, the next output after a settled fault is wrong again."""
        if self.switch is None:
            return
        self._archive()
        self.from_block = target + 1
        self._save_switch()
        log.warning("FAULTY PROPOSER re-armed: the first output at or after L2 block %d gets a wrong root", target + 1)

    def close(self) -> None:
        self.replica.close()

    # -- proposing --

    @property
    def needs_attention(self) -> bool:
        """A wrong output exists and its game, or the correct re-proposal after a defeat, is not done."""
        return self.state is not None and not self._done

    def wants_fault(self, block: int) -> bool:
        """This block's proposal is the wrong one (or is again, if a crash lost the first attempt)."""
        if self.state is None:
            return self.from_block is not None and block >= self.from_block
        return self.state.settled is None and block == self.state.target

    def limit_due(self, due: list[int]) -> list[int]:
        """Propose nothing past the wrong output while it is open (or about to be proposed)."""
        if self.state is not None and self.state.settled is None:
            return [k for k in due if k == self.state.target]  # only if a crash lost the wrong proposal
        if self.state is not None and self.switch is not None and not self._done:
            return [k for k in due if k <= self.state.target]  # re-propose the defeated block alone, then re-arm
        if self.state is None and self.from_block is not None:
            cut = [k for k in due if k >= self.from_block]
            if cut:
                return [k for k in due if k <= cut[0]]
        return due

    async def wrong_root(self, block: int, proposed_upto: int) -> Hash32:
        if self.state is not None and self.state.target == block and self.trace is not None:
            return Hash32(parse_hex(self.state.wrong_root, 32, "wrong root"))
        first = max(self.from_block or block, proposed_upto + 1)
        await self.replica.catch_up(self.sequencer, block)
        trace = compute_faulty_trace(
            self.replica.require_store(), self.chain_config, self.mode, first, block, proposed_upto + 1
        )
        root = trace.output_root(block)
        self.trace = trace
        self.state = FaultState(block, first, "0x" + root.hex(), trace.garbage_root is not None, proposed_upto + 1)
        save_fault_state(self.state_path, self.state)
        where = (
            f"step {trace.point.step} of L2 block {trace.point.block} credits 0x{trace.point.credited.hex()} 1 "
            "wei too much"
            if trace.point is not None
            else "a random root"
        )
        log.warning(
            "FAULTY PROPOSER: proposing wrong output root %s for L2 block %d (%s)",
            self.state.wrong_root[:18],
            block,
            where,
        )
        return Hash32(root)

    async def _rebuild_trace(self, state: FaultState) -> None:
        await self.replica.catch_up(self.sequencer, state.target)
        trace = compute_faulty_trace(
            self.replica.require_store(), self.chain_config, self.mode, state.first, state.target, state.earliest
        )
        if state.garbage:
            trace.garbage_root = parse_hex(state.wrong_root, 32, "wrong root")
        if "0x" + trace.output_root(state.target).hex() != state.wrong_root:
            raise FaultStateError("the recomputed wrong history does not give the proposed root (replica changed?)")
        self.trace = trace

    # -- defending --

    async def play(self, key: PrivateKey, outputs: list[OutputReport]) -> int | None:
        """One round of defence; returns the L2 block to propose again (honestly) after a defeat."""
        state = self.state
        if state is None:
            return None
        ours = [
            o for o in outputs if o.l2_block_number == state.target and "0x" + o.output_root.hex() == state.wrong_root
        ]
        if not ours:
            return None
        output = max(ours, key=lambda o: o.index)
        if output.status == "defeated":
            self._settle("defeated")
            live = any(o.l2_block_number >= state.target and o.status in LIVE for o in outputs)
            self._done = live
            if live:
                self._rearm_after(state.target)
            return None if live else state.target
        if output.status == "finalized":
            self._settle("finalized")
            self._done = True
            self._rearm_after(state.target)
            return None
        if output.status == "disputed":
            for game_id in output.game_ids:  # one game per challenger; we play the defender in ours
                game = await self.l1.get_game(game_id)
                if game is not None and game.in_progress and game.defender == key.address:
                    await self._defend(key, game)
        return None

    def _settle(self, outcome: str) -> None:
        if self.state is not None and self.state.settled is None:
            self.state = replace(self.state, settled=outcome)
            save_fault_state(self.state_path, self.state)
            if outcome == "defeated":
                log.warning(
                    "FAULTY PROPOSER: the wrong output for L2 block %d was defeated; proposing the correct root",
                    self.state.target,
                )
            else:
                log.critical(
                    "FAULTY PROPOSER: the wrong output for L2 block %d FINALIZED unchallenged", self.state.target
                )

    async def _defend(self, key: PrivateKey, game: GameInfo) -> None:
        if self.trace is None:
            return
        phase = f"{game.phase}:{game.lo}:{game.hi}:{game.turn}"
        decision = decide_defense(game, self.trace)
        if decision is None:
            if phase != self._last_phase and game.turn == "defender" and game.phase == "opening":
                log.warning("FAULTY PROPOSER: cannot open the garbage output of game %d: losing on time", game.game_id)
            self._last_phase = phase
            return
        self._last_phase = phase
        payload: ResolveGame | GameMove
        if isinstance(decision, Claim | OpenOutputs):
            payload = GameMove(game.game_id, decision)
            what = f"claim 0x{decision.root.hex()[:16]}" if isinstance(decision, Claim) else "open outputs"
        else:  # RESOLVE
            payload = ResolveGame(game.game_id)
            what = "resolve"
        tx_hash = await self.l1.send_tx(key, payload)
        receipt = await self.l1.wait_receipt(tx_hash, RECEIPT_TIMEOUT_S)
        log.info(
            "FAULTY PROPOSER: game %d (phase %s, lo %d hi %d): %s -> status %d%s",
            game.game_id,
            game.phase,
            game.lo,
            game.hi,
            what,
            receipt.status,
            f" ({receipt.error})" if receipt.error else "",
        )
