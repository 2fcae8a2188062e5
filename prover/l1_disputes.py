"""The challenger's access to the L1's proposal and dispute contracts (reads and signed transactions).

Reads and writes go through the one L1 client (l1.contracts.client.L1Client,
shared with the challenger's derivation): outputs and games as the
contracts' records, turned into prover.games views, and receipts. Writes are
l1.contracts.payloads payloads signed with the challenger's key (one nonce
sequence per key): dispute_output with the counter-bond, defend_output
with the bond, game_move, prove_step (the L1 rebuilds the step's input from
its own inbox) and resolve_game.
"""

from __future__ import annotations

from typing import Any

from l1.contracts.client import L1Client, L1TxReceipt
from l1.contracts.payloads import DefendOutput, DisputeOutput, GameMove, ProveStepTx, ResolveGame
from node.crypto import PrivateKey
from node.fraud.game import Claim, OpenOutputs, Respond, Side
from prover.games import GameView, OutputView, game_view, output_view
from prover.strategy import Action, PostClaim, PostOpening, PostResponse, ProveOneStep, Resolve

PAGE = 256
FINAL_STATUSES = frozenset({"finalized", "defeated"})


class UnsupportedAction(TypeError):
    pass


class L1Disputes:
    def __init__(self, client: L1Client, key: PrivateKey, bond: int | None) -> None:
        self.client = client
        self.key = key
        self.bond = bond or 0
        self._bond_given = bond
        self.clock_blocks = 0
        self.genesis_root: bytes | None = None
        self.disputes_enabled = True
        self.last_outputs: list[OutputView] = []
        self._final: list[OutputView] = []  # outputs 0.._first_live_output-1, all finalized or defeated
        self._first_live_output = 0
        self._first_open_game = 0

    async def load_params(self) -> None:
        info = await self.client.config()
        self.bond = self._bond_given if self._bond_given is not None else info.proposer_bond
        self.clock_blocks = info.game_clock_blocks
        self.genesis_root = None if info.l2_genesis_output_root is None else bytes(info.l2_genesis_output_root)
        self.disputes_enabled = info.rollup_chain_id is not None

    # -- reads --

    async def head(self) -> int:
        return await self.client.block_number()

    async def outputs(self) -> list[OutputView]:
        """Every output proposal; finalized and defeated ones (which never change) are read once."""
        fresh: list[OutputView] = []
        index = self._first_live_output
        while True:
            page = await self.client.get_outputs(index, PAGE)
            fresh.extend(output_view(item) for item in page)
            if len(page) < PAGE:
                break
            index += PAGE
        for output in fresh:
            if output.status in FINAL_STATUSES and output.index == self._first_live_output:
                self._final.append(output)
                self._first_live_output += 1
        self.last_outputs = self._final + [o for o in fresh if o.index >= self._first_live_output]
        return self.last_outputs

    async def games(self) -> list[GameView]:
        """Every game from the oldest one still in progress (or never seen) on."""
        games: list[GameView] = []
        index = self._first_open_game
        while True:
            page = await self.client.get_games(index, PAGE)
            games.extend(game_view(item) for item in page)
            if len(page) < PAGE:
                break
            index += PAGE
        return games

    def forget_games_before(self, game_id: int) -> None:
        """Games below `game_id` are over and recorded: later rounds need not read them again."""
        self._first_open_game = max(self._first_open_game, game_id)

    async def receipt(self, tx_hash: bytes) -> L1TxReceipt | None:
        return await self.client.get_receipt(tx_hash)

    # -- writes --

    async def dispute(self, output: OutputView) -> bytes:
        return bytes(await self.client.send_tx(self.key, DisputeOutput(output.index), value=self.bond))

    async def defend(self, output: OutputView) -> bytes:
        return bytes(await self.client.send_tx(self.key, DefendOutput(output.index), value=self.bond))

    async def send_action(self, game: GameView, side: Side, action: Action) -> bytes:
        return bytes(await self.client.send_tx(self.key, self.payload(game, side, action)))

    def payload(self, game: GameView, side: Side, action: Action) -> Any:
        if isinstance(action, PostClaim):
            return GameMove(game.game_id, Claim(side, action.root))
        if isinstance(action, PostResponse):
            return GameMove(game.game_id, Respond(side, action.agree))
        if isinstance(action, PostOpening):
            o = action.opening
            return GameMove(
                game.game_id, OpenOutputs(side, o.lo_state_root, o.lo_block_hash, o.hi_header, o.step_count)
            )
        if isinstance(action, ProveOneStep):
            return ProveStepTx(game.game_id, action.result.witness)
        if isinstance(action, Resolve):
            return ResolveGame(game.game_id)
        raise UnsupportedAction(f"no L1 transaction for {type(action).__name__}")
