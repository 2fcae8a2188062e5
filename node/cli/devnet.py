"""`rollup devnet up|down|status|kill|restart`: a local multi-process devnet in one command.

`up` writes one config per process into DIR (default .devnet), starts the
L1, the sequencer, the settler and N executors, waits until every executor
has a safe L2 block, prints the endpoints and the public dev accounts, and
then supervises them (Ctrl-C stops everything) or, with --detach, returns.
Running `up` again on the same DIR resumes the saved chain; --reset wipes it;
on a detached devnet with some processes down, it restarts only those.
`kill ROLE` and `restart ROLE` act on one process of a detached devnet.

The rest call the devnet's control endpoint (node.devnet.controller, through node.devnet.handle):
`snapshot` (prints an id), `revert ID`, `mine N`, `warp SECONDS` (alias `increase-time`: every process's
clock moves forward; `1h`, `90m`, `2d` too), `dump FILE` (then `up --load FILE`), `pause|resume ROLE`,
`partition|heal EXECUTOR`, `set-balance ADDR AMOUNT [--l1]`, `set-price MARKET (PRICE | --price-units N)`
(PRICE in quote per one base, as `rollup oracle set --price`), `faulty-proposer tx|garbage|off`.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from node.cli.common import CliError, add_json_flag, emit, parse_wei
from node.clock import MAX_OFFSET_MS
from node.devnet.banner import render_banner
from node.devnet.control import down, status
from node.devnet.errors import DevnetError, InputError, StartupError
from node.devnet.handle import Devnet
from node.devnet.layout import DevnetLayout
from node.devnet.params import (
    CHALLENGE_WINDOW,
    DEFAULT_BASE_PORT,
    DEFAULT_EXECUTORS,
    DEFAULT_L2_BLOCK_TIME_MS,
    GAME_CLOCK_BLOCKS,
    L1_BLOCK_TIME_MS,
    MAX_EXECUTORS,
)
from node.devnet.roles import DEFAULT_RESTART_TIMEOUT_S, SIGNALS, kill_role, restart_role
from node.devnet.up import DEFAULT_TIMEOUT_S, UpOptions, run_up
from node.rpc.errors import RpcError

DEFAULT_DIR = ".devnet"

Handler = Callable[[argparse.Namespace], int]


def register(subparsers: Any) -> None:
    devnet = subparsers.add_parser(
        "devnet",
        help="start, stop and inspect a local devnet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = devnet.add_subparsers(dest="devnet_command", metavar="SUBCOMMAND")
    sub.required = True
    _register_up(sub)
    _register_down(sub)
    _register_status(sub)
    _register_kill(sub)
    _register_restart(sub)
    _register_control(sub)


def _dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=Path(DEFAULT_DIR), help=f"devnet directory (default {DEFAULT_DIR})")


def _register_up(sub: Any) -> None:
    parser = sub.add_parser("up", help="start the devnet (foreground unless --detach)")
    _dir_arg(parser)
    parser.add_argument(
        "--executors",
        type=_positive_int,
        metavar="N",
        help=f"number of executors, 1..{MAX_EXECUTORS} (default {DEFAULT_EXECUTORS})",
    )
    parser.add_argument("--detach", action="store_true", help="return once ready; the processes keep running")
    parser.add_argument(
        "--load",
        type=Path,
        metavar="FILE",
        help="start from a `rollup devnet dump` file (its settings; DIR must not hold a devnet unless --reset)",
    )
    parser.add_argument("--reset", action="store_true", help="wipe DIR first (a fresh chain)")
    parser.add_argument(
        "--base-port",
        type=_positive_int,
        metavar="P",
        help=f"L1 on P, sequencer P+1000, settler P+1100, executors P+1200+i (default {DEFAULT_BASE_PORT})",
    )
    parser.add_argument(
        "--block-time-ms", type=_positive_int, metavar="MS", help=f"L2 block time (default {DEFAULT_L2_BLOCK_TIME_MS})"
    )
    parser.add_argument(
        "--censor",
        nargs="+",
        metavar="ADDR",
        help="test mode: the sequencer ignores mempool transactions from these addresses (or devN)",
    )
    _register_dispute_flags(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"give up (and stop everything) if not ready after S seconds (default {DEFAULT_TIMEOUT_S:.0f})",
    )
    add_json_flag(parser)
    parser.set_defaults(func=_handler(cmd_up))


def _register_dispute_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--l1-block-time-ms", type=_positive_int, metavar="MS", help=f"L1 block time (default {L1_BLOCK_TIME_MS})"
    )
    parser.add_argument(
        "--challenge-window",
        type=_positive_int,
        metavar="N",
        help=f"L1 blocks an output can be disputed in (default {CHALLENGE_WINDOW})",
    )
    parser.add_argument(
        "--game-clock",
        type=_positive_int,
        metavar="N",
        help=f"L1 blocks on each side's clock in a dispute game (default {GAME_CLOCK_BLOCKS})",
    )
    parser.add_argument(
        "--faulty-proposer",
        type=_positive_int,
        metavar="N",
        help="test mode: the settler proposes a wrong output root for the first output at or after L2 block N",
    )
    parser.add_argument(
        "--fault-mode",
        choices=("tx", "garbage"),
        help="with --faulty-proposer: tx (one transaction's post-state is wrong, default) or garbage (a random root)",
    )
    parser.add_argument(
        "--faulty-challenger",
        action="store_true",
        default=None,
        help="test mode: also start a challenger that disputes every output (it should lose its bonds)",
    )


def _register_down(sub: Any) -> None:
    parser = sub.add_parser("down", help="stop the devnet's processes")
    _dir_arg(parser)
    add_json_flag(parser)
    parser.set_defaults(func=_handler(cmd_down))


def _register_status(sub: Any) -> None:
    parser = sub.add_parser("status", help="show each process, its pid, health and chain heads")
    _dir_arg(parser)
    add_json_flag(parser)
    parser.set_defaults(func=_handler(cmd_status))


def _register_kill(sub: Any) -> None:
    parser = sub.add_parser("kill", help="send a signal to one process of a detached devnet (a crash, by default)")
    parser.add_argument(
        "role",
        metavar="ROLE",
        help="a process name from `devnet status` (l1, sequencer, settler, "
        "executor-N, challenger), or a role with one process",
    )
    parser.add_argument(
        "--signal",
        choices=sorted(SIGNALS),
        default="KILL",
        help="KILL (default: the process and its group, no clean-up) or TERM (a clean stop)",
    )
    _dir_arg(parser)
    add_json_flag(parser)
    parser.set_defaults(func=_handler(cmd_kill))


def _register_restart(sub: Any) -> None:
    parser = sub.add_parser("restart", help="start one process again in place (same config, ports, data; log appended)")
    parser.add_argument("role", metavar="ROLE", help="a process name from `devnet status`, or a role with one process")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_RESTART_TIMEOUT_S,
        metavar="S",
        help=f"give up (and stop it again) if not healthy after S seconds (default {DEFAULT_RESTART_TIMEOUT_S:.0f})",
    )
    _dir_arg(parser)
    add_json_flag(parser)
    parser.set_defaults(func=_handler(cmd_restart))


def _positive_int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def _duration(text: str) -> Decimal:
    """SECONDS of `warp`: a non-negative number of seconds, or with a unit (90m, 1h, 2d), at most 10 years."""
    body, unit = (text[:-1], text[-1]) if text[-1:].lower() in DURATION_UNITS else (text, "s")
    try:
        number = Decimal(body.strip())
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise argparse.ArgumentTypeError(f"expected seconds (3600, 1.5) or a duration (90m, 1h, 2d), got {text!r}")
    seconds = number * DURATION_UNITS[unit.lower()]
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"time only moves forward: SECONDS must be at least 0, got {text!r}")
    if seconds > MAX_OFFSET_MS // 1000:
        raise argparse.ArgumentTypeError(f"SECONDS may be at most {MAX_OFFSET_MS // 1000} (10 years), got {text!r}")
    return seconds


def _handler(command: Handler) -> Handler:
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except StartupError as exc:
            if exc.log_tail:
                print(exc.log_tail, file=sys.stderr)
            raise CliError(str(exc)) from None
        except DevnetError as exc:
            raise CliError(str(exc)) from None

    return run


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- commands


def cmd_up(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise CliError("--timeout must be positive")
    if args.load is not None:
        chosen = [
            flag
            for flag, value in (
                ("--executors", args.executors),
                ("--block-time-ms", args.block_time_ms),
                ("--censor", args.censor),
                ("--l1-block-time-ms", args.l1_block_time_ms),
                ("--challenge-window", args.challenge_window),
                ("--game-clock", args.game_clock),
                ("--faulty-proposer", args.faulty_proposer),
                ("--fault-mode", args.fault_mode),
                ("--faulty-challenger", args.faulty_challenger),
            )
            if value is not None
        ]
        if chosen:
            raise CliError(f"--load takes the dump's settings: {', '.join(chosen)} cannot be given with it")
    options = UpOptions(
        directory=args.dir,
        executors=args.executors,
        base_port=args.base_port,
        block_time_ms=args.block_time_ms,
        censor=tuple(args.censor) if args.censor is not None else None,
        l1_block_time_ms=args.l1_block_time_ms,
        challenge_window=args.challenge_window,
        game_clock=args.game_clock,
        faulty_proposer=args.faulty_proposer,
        faulty_challenger=args.faulty_challenger,
        fault_mode={"tx": "tx_post_state", "garbage": "garbage", None: None}[args.fault_mode],
        detach=args.detach,
        reset=args.reset,
        timeout_s=args.timeout,
        load=args.load.expanduser().resolve() if args.load is not None else None,
    )

    def on_ready(state: dict[str, Any], seconds: float) -> None:
        emit(args, state, render_banner(state, seconds))
        sys.stdout.flush()

    return run_up(options, on_ready, _progress)


def cmd_down(args: argparse.Namespace) -> int:
    result = down(DevnetLayout.at(args.dir), _progress)
    lines = [f"{entry['name']:<12} pid {entry['pid']}: {entry['result']}" for entry in result["processes"]]
    failed = [entry for entry in result["processes"] if entry["result"] == "still running"]
    lines.append("devnet stopped" if not failed else "some processes are still running")
    emit(args, result, "\n".join(lines))
    return 1 if failed else 0


def cmd_kill(args: argparse.Namespace) -> int:
    result = kill_role(DevnetLayout.at(args.dir), args.role, SIGNALS[args.signal])
    emit(args, result.to_json(), f"{result.name:<12} pid {result.pid}: {result.result} ({result.signal})")
    return 1 if result.result == "still running" else 0


def cmd_restart(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise CliError("--timeout must be positive")
    result = restart_role(DevnetLayout.at(args.dir), args.role, _progress, args.timeout)
    emit(args, result.to_json(), f"{result.name:<12} pid {result.pid}: healthy after {result.seconds:.1f} s")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    result = status(DevnetLayout.at(args.dir))
    emit(args, result, _status_text(result))
    return 0


def _status_text(result: dict[str, Any]) -> str:
    lines = [
        f"devnet {result['dir']} ({result['status']})",
        f"{'NAME':<12} {'PID':>7} {'ALIVE':<5} {'HEALTH':<11} {'UNSAFE':>7} {'SAFE':>7} {'FINAL':>7} {'L1':>6} "
        f"{'PEERS':>5}",
    ]
    for entry in result["processes"]:
        heads = [str(entry.get(key, "-")) for key in ("unsafe", "safe", "finalized", "l1_head", "peers")]
        lines.append(
            f"{entry['name']:<12} {str(entry['pid']):>7} {'yes' if entry['alive'] else 'no':<5} {entry['health']:<11} "
            f"{heads[0]:>7} {heads[1]:>7} {heads[2]:>7} {heads[3]:>6} {heads[4]:>5}"
            + (f"  error: {entry['error']}" if "error" in entry else "")
        )
    control = result.get("control")
    if isinstance(control, dict):
        lines.append(f"control endpoint {control['rpc']} ({'running' if control['alive'] else 'not running'})")
    if result["down"] and result["status"] == "running":
        lines.append(
            f"down: {', '.join(result['down'])} (restart one with `rollup devnet restart NAME --dir {result['dir']}`, "
            f"or all with `rollup devnet up --dir {result['dir']}`)"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- the control endpoint


def _control_parser(
    sub: Any, name: str, help_text: str, handler: Handler, aliases: tuple[str, ...] = ()
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, aliases=list(aliases))
    _dir_arg(parser)
    add_json_flag(parser)
    parser.set_defaults(func=_handler(_control_errors(handler)))
    return parser


def _register_control(sub: Any) -> None:
    _control_parser(sub, "snapshot", "snapshot the whole devnet (prints the id to revert to)", cmd_snapshot)
    _control_parser(sub, "revert", "put the whole devnet back to a snapshot", cmd_revert).add_argument(
        "id", metavar="ID", help="a snapshot id printed by `rollup devnet snapshot`"
    )
    _control_parser(sub, "mine", "mine N L1 blocks at once (time moves on by N L1 block times)", cmd_mine).add_argument(
        "n", type=_positive_int, metavar="N", help="how many L1 blocks (1..10000)"
    )
    _control_parser(
        sub,
        "warp",
        "move time forward in every process (L1, sequencer, executors, settler, challenger), as anvil's "
        "evm_increaseTime; a revert to an earlier snapshot brings it back",
        cmd_warp,
        aliases=("increase-time",),
    ).add_argument(
        "seconds",
        type=_duration,
        metavar="SECONDS",
        help="how far: seconds (3600, 1.5) or with a unit s, m, h, d (90m, 1h, 2d); at most 10 years",
    )
    _control_parser(
        sub, "dump", "write the devnet's state and history to FILE (start from it with up --load)", cmd_dump
    ).add_argument("file", type=Path, metavar="FILE", help="the tar.gz file to write")
    for name, text in (
        ("pause", "stop one role with SIGSTOP (it keeps its state; resume continues it)"),
        ("resume", "continue a paused role (SIGCONT)"),
        ("partition", "cut an executor off the gossip network"),
        ("heal", "reconnect a partitioned executor to the gossip network"),
    ):
        _control_parser(sub, name, text, cmd_role_action).add_argument(
            "role", metavar="ROLE", help="a process name from `devnet status`, or a role with one process"
        )
    balance = _control_parser(
        sub,
        "set-balance",
        "set any account's L2 balance to exactly AMOUNT, up or down, no key needed (one L1 balance override that"
        " the devnet's chain rule devnet_overrides lets through; the L2 includes it like a deposit) or, with"
        " --l1, its L1 balance",
        cmd_set_balance,
    )
    balance.add_argument("address", metavar="ADDR", help="0x address or devN")
    balance.add_argument("amount", metavar="AMOUNT", help="wei, or with a unit: 1.5eth, 20gwei")
    balance.add_argument("--l1", action="store_true", help="set the L1 balance instead")
    price = _control_parser(
        sub, "set-price", "set a market's oracle price (signed with the devnet's oracle key)", cmd_set_price
    )
    price.add_argument("market", metavar="MARKET", help="market symbol (BTC-PERP) or id")
    value = price.add_mutually_exclusive_group(required=True)
    value.add_argument(
        "price", metavar="PRICE", nargs="?", help="quote per 1 base, e.g. 20.5 (as `rollup oracle set --price`)"
    )
    value.add_argument("--price-units", metavar="N", help="the price as an integer: wei per lot")
    _control_parser(
        sub, "faulty-proposer", "make the proposer faulty from its next output on (or honest: off)", cmd_faulty_proposer
    ).add_argument(
        "mode", choices=("tx", "garbage", "off"), help="tx: one transaction's post-state wrong; garbage: a random root"
    )


def _control_errors(command: Handler) -> Handler:
    """JSON-RPC errors from the control endpoint as CLI errors naming their code."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except RpcError as exc:
            if isinstance(exc.data, dict) and exc.data.get("logTail"):
                print(exc.data["logTail"], file=sys.stderr)
            raise CliError(f"{exc.message} (code {exc.code})") from None
        except InputError as exc:
            raise CliError(str(exc), exit_code=2) from None

    return run


def _devnet(args: argparse.Namespace) -> Devnet:
    return Devnet.from_dir(args.dir)


def cmd_snapshot(args: argparse.Namespace) -> int:
    snapshot = _devnet(args).snapshot()
    emit(args, {"id": snapshot}, snapshot)
    return 0


def cmd_revert(args: argparse.Namespace) -> int:
    result = _devnet(args).revert(args.id)
    heads = result.get("heads", {})
    sequencer = heads.get("sequencer", {}).get("unsafe", {}).get("number", "?")
    emit(
        args,
        result,
        f"reverted to {result['id']} in {result.get('seconds', 0):.2f} s (L1 {heads.get('l1', '?')}, L2 {sequencer})",
    )
    return 0


def cmd_mine(args: argparse.Namespace) -> int:
    result = _devnet(args).mine(args.n)
    emit(args, result, f"mined L1 blocks {result.get('from')}..{result.get('to')}")
    return 0


def cmd_warp(args: argparse.Namespace) -> int:
    result = _devnet(args).increase_time(args.seconds)
    emit(
        args,
        result,
        f"time moved {_plain(args.seconds)} s forward in every process (offset {result['offsetMs'] / 1000:g} s): "
        f"L1 block {result['l1Block']} and L2 block {result['l2Block']} are in the new time",
    )
    return 0


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text


def cmd_dump(args: argparse.Namespace) -> int:
    result = _devnet(args).dump(args.file)
    emit(
        args,
        result,
        f"dumped to {result['path']} ({result['bytes']} bytes); "
        f"start from it with `rollup devnet up --load {result['path']}`",
    )
    return 0


def cmd_role_action(args: argparse.Namespace) -> int:
    devnet = _devnet(args)
    action = {
        "pause": devnet.pause,
        "resume": devnet.resume,
        "partition": devnet.partition,
        "heal": devnet.heal,
    }[args.devnet_command]
    result = action(args.role)
    emit(args, result, f"{result.get('name', args.role)}: {args.devnet_command} done")
    return 0


def cmd_set_balance(args: argparse.Namespace) -> int:
    amount = parse_wei(args.amount, "AMOUNT", allow_zero=True)
    devnet = _devnet(args)
    result = devnet.set_l1_balance(args.address, amount) if args.l1 else devnet.set_l2_balance(args.address, amount)
    text = f"{'L1' if args.l1 else 'L2'} balance of {result.get('address', args.address)}: {result.get('balance')} wei"
    if not args.l1 and "l2Block" in result:
        text += (
            f" (was {result.get('before')}; override {result.get('l2Tx')} in L2 block {result['l2Block']}, "
            f"L1 transaction {result.get('l1Tx')} in L1 block {result.get('l1Block')})"
        )
    emit(args, result, text)
    return 0


def cmd_set_price(args: argparse.Namespace) -> int:
    price: int | str = args.price if args.price is not None else _price_units(args.price_units)
    result = _devnet(args).set_oracle_price(args.market, price)
    shown = (
        f"{args.price} ({result['price']} wei per lot)" if args.price is not None else f"{result['price']} wei per lot"
    )
    emit(args, result, f"{result['market']} oracle price {shown} (L2 block {result.get('blockNumber')})")
    return 0


def _price_units(text: str) -> int:
    try:
        value = int(text.strip(), 10)
    except ValueError:
        raise InputError(f"--price-units must be an integer (wei per lot), got {text!r}") from None
    if not 1 <= value <= 2**64 - 1:
        raise InputError(f"--price-units must be in [1, 2^64-1], got {text}")
    return value


def cmd_faulty_proposer(args: argparse.Namespace) -> int:
    result = _devnet(args).faulty_proposer(args.mode)
    emit(args, result, f"proposer: {'honest' if args.mode == 'off' else args.mode + ' (from the next output)'}")
    return 0
