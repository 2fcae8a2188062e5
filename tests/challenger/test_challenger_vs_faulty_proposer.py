"""The honest challenger against the faulty proposer's defence, through the L1's own JSON of the game.

Each turn the game (node.fraud.game, as the L1 stores it) is rendered by
l1.contracts.rpc.game_to_json and parsed by l1.contracts.client.parse_game, exactly what
both processes read over JSON-RPC; the challenger decides with
prover.strategy on prover.games.game_view, the settler with
l1.faults.defence.decide_defense on the GameInfo. Moves land one L1 block
after the state they were decided on, as on the devnet.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from l1.contracts.client import GameInfo, parse_game
from l1.contracts.dispute_state import GameRecord
from l1.contracts.rpc import game_to_json
from l1.faults.defence import RESOLVE, decide_defense
from l1.faults.trace import FaultMode, FaultyTrace, compute_faulty_trace, find_fault_point
from node.chain import Chain
from node.crypto import Address
from node.fraud.game import (
    Claim,
    Game,
    OpenOutputs,
    ProveStep,
    Respond,
    Side,
    Status,
    apply_move,
    new_game,
    resolve_timeout,
)
from node.fraud.onestep import execute_step
from node.fraud.steps import get_block_step
from node.fraud.trace import get_block_output
from node.fraud.witness import Witness
from prover.games import game_view
from prover.oracle import TraceOracle
from prover.players import HonestPlayer
from prover.strategy import PostResponse, ProveOneStep, Resolve, Wait, decide
from tests.fraud.support import CONFIG, build_kinds_chain

CLOCK = 12
CHALLENGER, PROPOSER = Address(b"\x0c" * 20), Address(b"\x0d" * 20)


def as_info(game: Game, head: int) -> GameInfo:
    record = GameRecord(0, 3, CHALLENGER, PROPOSER, 10**18, 10**18, 1, None, game)
    return parse_game(game_to_json(record, head))


def challenger_turn(chain: Chain, game: Game, now: int, oracle: TraceOracle) -> tuple[Game, str] | None:
    action = decide(game_view(as_info(game, now)), Side.CHALLENGER, HonestPlayer(oracle))
    at = now + 1
    if isinstance(action, Wait):
        return None
    if isinstance(action, PostResponse):
        return apply_move(game, Respond(Side.CHALLENGER, action.agree), at), "respond"
    if isinstance(action, ProveOneStep):
        step = get_block_step(chain.store.get_block(action.result.block_number), action.result.index, game.step_count)
        post = execute_step(game.lo_claim, step, Witness.decode(action.result.witness), CONFIG)
        return apply_move(game, ProveStep(Side.CHALLENGER, post), at), "prove"
    if isinstance(action, Resolve):
        return resolve_timeout(game, at), "resolve"
    raise AssertionError(f"the challenger never claims or opens: {action}")


def defender_turn(game: Game, now: int, trace: FaultyTrace) -> tuple[Game, str] | None:
    defense = decide_defense(as_info(game, now), trace)
    at = now + 1
    if defense is None:
        return None
    if defense == RESOLVE:
        return resolve_timeout(game, at), "defender resolve"
    if isinstance(defense, (Claim, OpenOutputs)):
        return apply_move(game, defense, at), type(defense).__name__.lower()
    raise AssertionError(defense)


def play(chain: Chain, game: Game, trace: FaultyTrace, now: int = 20) -> tuple[Game, list[str]]:
    oracle = TraceOracle(chain.store, CONFIG)
    moves: list[str] = []
    for _ in range(100):
        if not game.in_progress:
            return game, moves
        now += 1
        turn = defender_turn(game, now, trace) or challenger_turn(chain, game, now, oracle)
        if turn is None:
            continue  # nobody moves: the clock of the side on turn runs
        game, name = turn
        moves.append(name)
    raise AssertionError("the game did not end")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    chain = build_kinds_chain(tmp_path_factory.mktemp("faulty"), 9)
    yield chain  # type: ignore[misc]
    chain.store.close()


def start(chain: Chain, start_block: int, trace: FaultyTrace) -> Game:
    agreed = get_block_output(chain.store, start_block).output_root
    return new_game(start_block, agreed, trace.target, trace.output_root(trace.target), CLOCK, 20)


def test_wrong_transaction_post_state_is_proven_wrong_in_one_step(chain: Chain) -> None:
    trace = compute_faulty_trace(chain.store, CONFIG, FaultMode.TX_POST_STATE, 4, 8)
    assert trace.point is not None and trace.point.block == 4
    final, moves = play(chain, start(chain, 1, trace), trace)
    assert final.status is Status.CHALLENGER_WON
    assert moves[-1] == "prove" and "openoutputs" in moves
    assert final.disputed_header is not None and final.disputed_header.number == trace.point.block
    assert final.lo == trace.point.step  # the one step run by the L1 is the faulted transaction


def test_garbage_root_cannot_be_opened_and_loses_on_time(chain: Chain) -> None:
    trace = compute_faulty_trace(chain.store, CONFIG, FaultMode.GARBAGE, 4, 8)
    final, moves = play(chain, start(chain, 1, trace), trace)
    assert final.status is Status.CHALLENGER_WON and moves[-1] == "resolve"
    assert "openoutputs" not in moves and final.hi == 8 and final.lo == 7


def test_fault_point_falls_back_to_earlier_blocks_then_end_of_block(chain: Chain) -> None:
    last = 9  # build_kinds_chain leaves the last block empty
    assert find_fault_point(chain.store, CONFIG, last, last, earliest=7).block == 7
    point = find_fault_point(chain.store, CONFIG, last, last)
    assert (point.block, point.step, point.credited) == (last, 0, CONFIG.fee_recipient)
    trace = compute_faulty_trace(chain.store, CONFIG, FaultMode.TX_POST_STATE, last, last)
    final, moves = play(chain, start(chain, 6, trace), trace)
    assert final.status is Status.CHALLENGER_WON and moves[-1] == "prove"


def test_challenger_out_of_time_lets_the_defender_resolve(chain: Chain) -> None:
    trace = compute_faulty_trace(chain.store, CONFIG, FaultMode.TX_POST_STATE, 4, 8)
    game = apply_move(start(chain, 1, trace), Claim(Side.DEFENDER, trace.output_root(4)), 21)
    assert decide_defense(as_info(game, 21 + CLOCK - 1), trace) is None  # the challenger still has a block
    assert decide_defense(as_info(game, 21 + CLOCK), trace) == RESOLVE
    resolved = resolve_timeout(game, 21 + CLOCK + 1)
    assert resolved.status is Status.DEFENDER_WON


def test_faulty_settler_holds_later_outputs_until_its_wrong_one_is_decided(tmp_path: Path) -> None:
    from dataclasses import replace

    from l1.contracts.client import L1Client
    from l1.faults.proposer import FaultState, FaultyProposer, load_fault_state, save_fault_state
    from l1.settler.config import settler_config_from_dict
    from node.crypto import to_checksum_address
    from node.rpc.client import RpcClient

    doc = {
        "node": {"data_dir": str(tmp_path)},
        "rollup": {"chain_id": 901, "l1_chain_id": 900, "fee_recipient": to_checksum_address(CONFIG.fee_recipient)},
        "settler": {
            "l1_rpc": "http://127.0.0.1:1/",
            "sequencer_rpc": "http://127.0.0.1:1/",
            "batcher_key": "dev8",
            "proposer_key": "dev9",
        },
    }
    faulty = FaultyProposer(
        settler_config_from_dict(doc),
        25,
        FaultMode.TX_POST_STATE,
        L1Client("http://127.0.0.1:1/"),
        RpcClient("http://127.0.0.1:1/"),
    )
    assert faulty.limit_due([10, 20, 30, 40]) == [10, 20, 30]
    assert not faulty.wants_fault(20) and faulty.wants_fault(30)
    faulty.state = FaultState(30, 25, "0x" + "ab" * 32, False, 21)
    assert faulty.limit_due([40, 50]) == [] and faulty.limit_due([30, 40]) == [30]  # a lost proposal is sent again
    assert faulty.wants_fault(30) and not faulty.wants_fault(40)
    faulty.state = replace(faulty.state, settled="defeated")
    assert faulty.limit_due([30, 40]) == [30, 40] and not faulty.wants_fault(30)
    save_fault_state(tmp_path / "fault.json", faulty.state)
    assert load_fault_state(tmp_path / "fault.json") == faulty.state
