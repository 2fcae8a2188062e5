"""The dispute game: full games between honest and dishonest parties, clocks, illegal moves, depth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from node.block import BlockHeader
from node.chain import Chain
from node.crypto import Hash32, keccak256
from node.fraud.game import (
    Claim,
    ClockExpired,
    ClockNotExpired,
    Game,
    GameOver,
    InvalidMove,
    NotYourTurn,
    OpenOutputs,
    Phase,
    ProveStep,
    Respond,
    Side,
    apply_move,
    compute_depth,
    compute_max_moves,
    get_remaining,
    get_step_position,
    new_game,
    resolve_timeout,
    validate_step_input,
)
from node.fraud.onestep import execute_step
from node.fraud.steps import INVALID_ROOT, MAX_STEPS_PER_BLOCK
from node.fraud.trace import compute_intermediate_roots, compute_step_proof, get_block_output
from node.output import compute_output_root
from node.stf import ChainConfig
from tests.fraud.support import CONFIG, WRONG_CONFIG, build_kinds_chain

D, C = Side.DEFENDER, Side.CHALLENGER


def h(*parts: object) -> bytes:
    return keccak256(repr(parts).encode())


# -- a synthetic world: output and step roots as hashes, a step oracle ------------------------


@dataclass
class World:
    """Roots of an honest chain; a party's view may diverge from (block, step) on."""

    steps_per_block: int = 5
    diverge: tuple[int, int] | None = None  # first wrong (block, step index of the post-root)

    def is_wrong(self, block: int, step: int) -> bool:
        return self.diverge is not None and (block, step) >= self.diverge

    def state_root(self, block: int, step: int | None = None) -> bytes:
        k = self.steps_per_block if step is None else step
        if k == 0 and block > 0:
            return self.state_root(block - 1)
        return h("state", block, k, self.is_wrong(block, k))

    def header(self, block: int) -> BlockHeader:
        parent = Hash32(bytes(32)) if block == 0 else self.header(block - 1).hash()
        zero = Hash32(bytes(32))
        return BlockHeader(block, parent, block, 0, zero, zero, Hash32(self.state_root(block)))

    def output(self, block: int) -> bytes:
        return compute_output_root(block, self.state_root(block), self.header(block).hash())


HONEST = World()


def step_oracle(block: int, index: int, pre_root: bytes) -> bytes:
    """What the L1's execute_step returns: the honest transition from an honest pre-root."""
    if pre_root == HONEST.state_root(block, index):
        return HONEST.state_root(block, index + 1)
    return h("garbage", pre_root)


Strategy = Callable[[Game], object]


def defender_of(world: World) -> Strategy:
    def move(game: Game) -> object:
        if game.phase is Phase.BLOCKS:
            return Claim(D, world.output(game.mid))
        if game.phase is Phase.OPENING:
            lo = world.header(game.lo)
            return OpenOutputs(D, lo.state_root, lo.hash(), world.header(game.hi), world.steps_per_block)
        if game.phase is Phase.STEPS:
            return Claim(D, world.state_root(game.disputed_header.number, game.mid))  # type: ignore[union-attr]
        return prove(game)

    return move


def honest_challenger(game: Game) -> object:
    if game.phase is Phase.ONE_STEP:
        return prove(game)
    truth = (
        HONEST.output(game.mid)
        if game.phase is Phase.BLOCKS
        else HONEST.state_root(game.disputed_header.number, game.mid)
    )  # type: ignore[union-attr]
    return Respond(C, game.mid_claim == truth)


def contrarian_challenger(agree: bool) -> Strategy:
    def move(game: Game) -> object:
        return (
            ProveStep(C, step_oracle(*get_step_position(game)[:3]))
            if game.phase is Phase.ONE_STEP
            else Respond(C, agree)
        )

    return move


def prove(game: Game) -> ProveStep:
    block, index, pre_root, _ = get_step_position(game)
    return ProveStep(game.turn, step_oracle(block, index, pre_root))


def play(game: Game, defender: Strategy, challenger: Strategy, now: int = 100, max_moves: int = 200) -> Game:
    while game.in_progress and max_moves:
        strategy = defender if game.turn is D else challenger
        game = apply_move(game, strategy(game), now)  # type: ignore[arg-type]
        now += 1
        max_moves -= 1
    return game


def start(world_claim: bytes, a: int = 0, b: int = 20, clock: int = 1_000) -> Game:
    return new_game(a, HONEST.output(a), b, world_claim, clock, now=100)


# -- full games ------------------------------------------------------------------------------


@pytest.mark.parametrize("diverge", [(1, 1), (7, 3), (13, 5), (20, 2)])
def test_faulty_state_loses_to_an_honest_challenger(diverge: tuple[int, int]) -> None:
    faulty = World(diverge=diverge)
    game = play(start(faulty.output(20)), defender_of(faulty), honest_challenger)
    assert game.challenger_won and game.phase is Phase.OVER
    assert game.disputed_header is not None and game.disputed_header.number == diverge[0]
    assert (game.lo, game.hi) == (diverge[1] - 1, diverge[1])
    assert game.moves <= compute_max_moves(20, HONEST.steps_per_block)


def test_faulty_claim_loses_to_an_honest_challenger() -> None:
    # a consistent lie about block 20's final state only: every state before it is right
    liar = World(diverge=(20, 5))
    assert all(liar.output(n) == HONEST.output(n) for n in range(20))
    game = play(start(liar.output(20)), defender_of(liar), honest_challenger)
    assert game.challenger_won and (game.lo, game.hi) == (4, 5)
    # a claim nobody can open: the defender cannot move past the block bisection and times out
    junk = h("junk")
    game = start(junk, clock=50)
    for _ in range(100):
        if game.phase is Phase.OPENING:
            break
        game = apply_move(
            game, (defender_of(HONEST) if game.turn is D else honest_challenger)(game), game.turn_started_at + 1
        )  # type: ignore[arg-type]
    assert game.phase is Phase.OPENING and (game.lo, game.hi) == (19, 20)
    with pytest.raises(InvalidMove):
        apply_move(game, defender_of(HONEST)(game), game.turn_started_at + 1)  # type: ignore[arg-type]
    later = game.turn_started_at + get_remaining(game, D, game.turn_started_at) + 1
    with pytest.raises(ClockExpired):
        apply_move(game, defender_of(HONEST)(game), later)  # type: ignore[arg-type]
    assert resolve_timeout(game, later).challenger_won


@pytest.mark.parametrize("challenger", [contrarian_challenger(False), contrarian_challenger(True)])
def test_honest_defender_beats_a_dishonest_challenger(challenger: Strategy) -> None:
    game = play(start(HONEST.output(20)), defender_of(HONEST), challenger)
    assert game.defender_won


def test_adjacent_blocks_and_single_step_blocks() -> None:
    world = World(steps_per_block=1, diverge=(6, 1))
    game = new_game(5, world.output(5), 6, world.output(6), 10, now=0)
    assert game.phase is Phase.OPENING
    game = apply_move(game, defender_of(world)(game), 1)  # type: ignore[arg-type]
    assert game.phase is Phase.ONE_STEP and game.turn is C and get_step_position(game)[:2] == (6, 0)
    # either side may submit the objective step result
    assert apply_move(game, ProveStep(D, h("state", 6, 1, False)), 2).challenger_won
    assert apply_move(game, ProveStep(C, world.state_root(6, 1)), 2).defender_won


# -- clocks and illegal moves -----------------------------------------------------------------


def test_clocks_are_charged_to_the_side_on_turn() -> None:
    game = start(HONEST.output(20), clock=10)
    game = apply_move(game, Claim(D, HONEST.output(10)), 104)
    assert (game.defender_used, game.challenger_used, game.turn) == (4, 0, C)
    game = apply_move(game, Respond(C, True), 110)
    assert (game.defender_used, game.challenger_used) == (4, 6)
    assert get_remaining(game, D, 113) == 3 and get_remaining(game, C, 113) == 4
    with pytest.raises(ClockNotExpired):
        resolve_timeout(game, 116)
    assert apply_move(game, Claim(D, HONEST.output(15)), 116).defender_used == 10  # the last block of its clock
    with pytest.raises(ClockExpired):
        apply_move(game, Claim(D, HONEST.output(15)), 117)
    over = resolve_timeout(game, 117)
    assert over.challenger_won and over.phase is Phase.OVER
    with pytest.raises(GameOver):
        apply_move(over, Claim(D, HONEST.output(15)), 118)
    with pytest.raises(GameOver):
        resolve_timeout(over, 500)
    # the challenger's clock
    game = apply_move(game, Claim(D, HONEST.output(15)), 111)
    assert resolve_timeout(game, 111 + 5).defender_won


def test_illegal_moves_are_rejected() -> None:
    game = start(HONEST.output(20))
    with pytest.raises(NotYourTurn):
        apply_move(game, Respond(C, True), 101)
    with pytest.raises(InvalidMove):
        apply_move(game, Respond(D, True), 101)  # nothing to respond to
    with pytest.raises(InvalidMove):
        apply_move(game, Claim(D, b"short"), 101)
    with pytest.raises(InvalidMove):
        apply_move(game, Claim(D, HONEST.output(10)), 99)  # before the last move
    with pytest.raises(InvalidMove):
        apply_move(game, ProveStep(D, bytes(32)), 101)  # not in the one-step phase
    with pytest.raises(InvalidMove):
        apply_move(game, OpenOutputs(D, bytes(32), bytes(32), HONEST.header(20), 5), 101)
    claimed = apply_move(game, Claim(D, HONEST.output(10)), 101)
    with pytest.raises(NotYourTurn):
        apply_move(claimed, Claim(D, HONEST.output(10)), 102)
    with pytest.raises(InvalidMove):
        new_game(5, bytes(32), 5, bytes(32), 10, 0)
    with pytest.raises(InvalidMove):
        new_game(0, bytes(32), 5, bytes(32), 0, 0)


def test_openings_must_match_the_outputs() -> None:
    game = new_game(5, HONEST.output(5), 6, HONEST.output(6), 10, now=0)
    lo = HONEST.header(5)
    good = OpenOutputs(D, lo.state_root, lo.hash(), HONEST.header(6), 5)
    assert apply_move(game, good, 1).phase is Phase.STEPS
    for bad in (
        replace(good, lo_state_root=bytes(32)),
        replace(good, lo_block_hash=bytes(32)),
        replace(good, hi_header=HONEST.header(7)),
        replace(good, hi_header=replace(HONEST.header(6), state_root=Hash32(bytes(32)))),
        replace(good, step_count=0),
        replace(good, step_count=MAX_STEPS_PER_BLOCK + 1),
    ):
        with pytest.raises(InvalidMove):
            apply_move(game, bad, 1)


def test_depth_for_a_thousand_blocks_of_two_thousand_transactions() -> None:
    depth = compute_depth(1_000, 2_000 + 1)
    assert depth == 10 + 11 == 21
    assert compute_max_moves(1_000, 2_001) == 44
    assert compute_depth(1, 1) == 0 and compute_depth(2, 2) == 2
    # the worst case over every divergence point of a 1,000-block range is exactly ceil(log2(1000)) rounds
    worst = 0
    for target in range(1, 1_001):
        lo, hi, rounds = 0, 1_000, 0
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if mid < target else (lo, mid)
            rounds += 1
        worst = max(worst, rounds)
    assert worst == 10


# -- a full game over real chains, decided by execute_step ------------------------------------


@dataclass
class ChainParty:
    chain: Chain
    config: ChainConfig

    def output(self, n: int) -> bytes:
        return get_block_output(self.chain.store, n).output_root

    def step_roots(self, n: int) -> tuple[bytes, ...]:
        return compute_intermediate_roots(self.chain.store, self.config, n)

    def step_root(self, n: int, k: int, padded: bool = False) -> bytes:
        """r(n, k); past the block's steps INVALID_ROOT (what an honest party sees), or the last root repeated
        (what a defender that opened with too many steps claims)."""
        roots = self.step_roots(n)
        return roots[k] if k < len(roots) else (roots[-1] if padded else INVALID_ROOT)


def play_chains(
    defender: ChainParty,
    challenger: ChainParty,
    b: int,
    final_claim: bytes | None = None,
    header_override: BlockHeader | None = None,
    extra_steps: int = 0,
) -> Game:
    """Both parties honest about their own chains (except `extra_steps`: the defender opens its block with
    that many steps too many, padding with its final root); the L1 runs execute_step with CONFIG."""
    claim = final_claim or defender.output(b)
    game = new_game(0, defender.output(0), b, claim, 100, now=0)
    now = 0
    while game.in_progress:
        now += 1
        if game.phase is Phase.BLOCKS and game.turn is D:
            move: object = Claim(D, defender.output(game.mid))
        elif game.phase is Phase.BLOCKS:
            move = Respond(C, game.mid_claim == challenger.output(game.mid))
        elif game.phase is Phase.OPENING:
            lo = get_block_output(defender.chain.store, game.lo)
            block = defender.chain.store.get_block(game.hi)
            header = header_override if header_override is not None and game.hi == b else block.header  # type: ignore[union-attr]
            count = len(defender.step_roots(game.hi)) - 1 + extra_steps
            move = OpenOutputs(D, lo.state_root, lo.block_hash, header, count)  # type: ignore[arg-type]
        elif game.phase is Phase.STEPS and game.turn is D:
            move = Claim(D, defender.step_root(game.disputed_header.number, game.mid, padded=True))  # type: ignore[union-attr]
        elif game.phase is Phase.STEPS:
            move = Respond(C, game.mid_claim == challenger.step_root(game.disputed_header.number, game.mid))  # type: ignore[union-attr]
        else:
            number, index, pre_root, _ = get_step_position(game)
            prover = challenger if pre_root == challenger.step_root(number, index) else defender
            proof = compute_step_proof(prover.chain.store, prover.config, number, index, game.step_count)
            assert proof.pre_root == pre_root
            validate_step_input(game, proof.step)
            move = ProveStep(C, execute_step(pre_root, proof.step, proof.witness, CONFIG))
        game = apply_move(game, move, now)  # type: ignore[arg-type]
    return game


@pytest.fixture(scope="module")
def chains(tmp_path_factory: pytest.TempPathFactory) -> tuple[ChainParty, ChainParty]:
    root: Path = tmp_path_factory.mktemp("game")
    honest = build_kinds_chain(root / "honest", 6)
    faulty = build_kinds_chain(root / "faulty", 6, wrong_from=3)  # executes blocks 3.. with another fee recipient
    yield ChainParty(honest, CONFIG), ChainParty(faulty, WRONG_CONFIG)  # type: ignore[misc]
    honest.store.close()
    faulty.store.close()


def test_real_chains_faulty_state(chains: tuple[ChainParty, ChainParty]) -> None:
    honest, faulty = chains
    assert honest.output(2) == faulty.output(2) and honest.output(3) != faulty.output(3)
    game = play_chains(faulty, honest, 6)
    assert game.challenger_won and game.disputed_header.number == 3  # type: ignore[union-attr]
    assert game.lo == 0  # the first fee payment differs: block 3 has no system transactions


def test_real_chains_faulty_claim_and_honest_defender(chains: tuple[ChainParty, ChainParty]) -> None:
    honest, _ = chains
    block = honest.chain.store.get_block(5)
    assert block is not None
    lie = replace(block.header, state_root=Hash32(h("lie")))
    game = play_chains(honest, honest, 5, compute_output_root(5, lie.state_root, lie.hash()), lie)
    assert game.challenger_won and game.disputed_header == lie
    count = len(honest.step_roots(5)) - 1
    assert (game.lo, game.hi) == (count - 1, count)  # the end-of-block step
    assert play_chains(honest, honest, 5).defender_won


def test_real_chains_a_header_committing_to_the_invalid_root_cannot_be_opened(
    chains: tuple[ChainParty, ChainParty],
) -> None:
    """Else a proposer could claim INVALID_ROOT as block 5's state and open it with one step too many: the
    step past the block's end gives INVALID_ROOT, which would equal its claim."""
    honest, _ = chains
    block = honest.chain.store.get_block(5)
    assert block is not None
    lie = replace(block.header, state_root=Hash32(INVALID_ROOT))
    with pytest.raises(InvalidMove, match="INVALID_ROOT"):
        play_chains(honest, honest, 5, compute_output_root(5, lie.state_root, lie.hash()), lie, extra_steps=1)


def test_real_chains_a_defender_opening_too_many_steps_loses_the_first_extra_one(
    chains: tuple[ChainParty, ChainParty],
) -> None:
    honest, _ = chains
    count = len(honest.step_roots(5)) - 1
    for extra in (1, 2, 7):
        game = play_chains(honest, honest, 5, extra_steps=extra)
        assert game.challenger_won and game.step_count == count + extra
        # the first step past the block's own: an end-of-block chunk that starts with the phase closed
        assert (game.lo, game.hi) == (count, count + 1) and game.hi_claim != INVALID_ROOT
