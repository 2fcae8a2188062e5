"""Fraud-proof commands: disputes, outputs, withdrawals on L1, and a withdrawal's whole journey.

    rollup disputes [--json]             dispute games: status, phase, range, turn, clocks, bonds, moves
    rollup outputs [--json]              output proposals: index, L2 block, status, parties, games, and
                                         which attesters agree with each root (ATT same/other, `!` =
                                         contradicted; from the devnet's executors or --attestations-rpc)
    rollup withdrawals [--json]          withdrawals proven on L1 and whether they are paid
    rollup complete-withdrawal ID        wait for a finalized output covering the L2 withdrawal ID,
                                         prove it on L1, finalize it (the recipient is paid)

The reads go through the Python client (node.client), which parses the L1's
replies with the L1 client's schemas (l1.contracts.client): the tables are
printed from those records, and --json prints each record through the
schema it was parsed with, i.e. the L1's own JSON.

`rollup withdraw ... --wait finalized` (node.cli.wallet) does the same after
sending the L2 transaction, through node.cli.common's `finish_withdrawal`. Proofs come from
a node serving `rollup_getWithdrawalProof` over an L1-derived chain: the
devnet's honest challenger, or --proof-rpc URL.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from node.attestation_view import ProposalAttestations, compare_attestations
from node.cli.common import (
    DEFAULT_DIR,
    CliError,
    Handler,
    add_json_flag,
    client_for,
    emit,
    journey_text,
    load_key,
    progress,
    run_journey,
)
from node.client import RollupClient, errors
from node.crypto import CryptoError, to_checksum_address
from node.devnet.endpoints import Endpoints, load_devnet_json, resolve_endpoints
from node.devnet.errors import DevnetError, InputError
from node.devnet.inputs import parse_tx_hash
from node.devnet.waiting import Deadline
from node.fraud.game import Side, Status
from node.keys.keystore import KeystoreError
from node.keys.resolve import KeyResolutionError
from node.records import to_hex, to_json
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError

R = TypeVar("R")

DEFAULT_JOURNEY_TIMEOUT_S = 600.0


def register(subparsers: Any) -> None:
    net = _net_parser()
    _add(subparsers, "disputes", [net], "dispute games on L1 (status, moves, clocks, bonds)", cmd_disputes)
    outputs = _add(
        subparsers, "outputs", [net], "output proposals on L1 (pending, disputed, finalized, defeated)", cmd_outputs
    )
    outputs.add_argument(
        "--attestations-rpc",
        action="append",
        metavar="URL",
        help="node serving rollup_getAttestations (repeatable; default: the devnet's executors)",
    )
    _add(subparsers, "withdrawals", [net], "withdrawals proven on L1 and their payout", cmd_withdrawals)
    parser = _add(
        subparsers,
        "complete-withdrawal",
        [net],
        "prove and finalize an L2 withdrawal on L1 (waits for finality)",
        cmd_complete_withdrawal,
    )
    parser.add_argument("withdrawal_id", metavar="ID", help="the withdrawal id (the L2 withdrawal transaction's hash)")
    parser.add_argument(
        "--key", default="dev0", help="L1 key paying the fees (anyone may prove and finalize; default dev0)"
    )
    parser.add_argument("--keys-dir", type=Path, help="keys directory (default: $ROLLUP_KEYS_DIR or ~/.rollup/keys)")
    parser.add_argument("--password-file", type=Path, metavar="FILE", help="keystore password file")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_JOURNEY_TIMEOUT_S,
        metavar="S",
        help=f"give up after S seconds (default {DEFAULT_JOURNEY_TIMEOUT_S:.0f})",
    )


def _net_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--dir", type=Path, default=Path(DEFAULT_DIR), help=f"devnet directory (default {DEFAULT_DIR})")
    parser.add_argument("--l1-rpc", metavar="URL", help="L1 JSON-RPC URL (default: the devnet's L1)")
    parser.add_argument(
        "--proof-rpc",
        metavar="URL",
        help="node serving rollup_getWithdrawalProof (default: the devnet's honest challenger)",
    )
    add_json_flag(parser)
    return parser


def _add(subparsers: Any, name: str, parents: list[argparse.ArgumentParser], help_text: str, command: Handler) -> Any:
    parser = subparsers.add_parser(name, parents=parents, help=help_text, description=help_text)
    parser.set_defaults(func=_handler(command))
    return parser


def _handler(command: Handler) -> Handler:
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (InputError, DevnetError, KeyResolutionError, KeystoreError, CryptoError) as exc:
            raise CliError(str(exc)) from None
        except RpcTransportError as exc:
            raise CliError(f"cannot reach the node: {exc} (is the devnet running?)") from None
        except RpcError as exc:
            raise CliError(f"the node answered with an error: {exc.message} (code {exc.code})") from None
        except errors.ClientError as exc:  # a wait that timed out, a withdrawal the L1 refuses...
            raise CliError(str(exc)) from None

    return run


# ---------------------------------------------------------------- endpoints


def _l1_endpoints(args: argparse.Namespace) -> Endpoints:
    """The L1 of --l1-rpc or the devnet; the L2 side is not needed here (a placeholder keeps it unread)."""
    return resolve_endpoints(args.dir, "http://l2-not-used/", args.l1_rpc)


def _read_all(args: argparse.Namespace, read: Callable[[RollupClient], list[R]]) -> list[R]:
    """Every item of a paged L1 read of the client (e.g. RollupClient.games)."""
    endpoints = _l1_endpoints(args)
    endpoints.require_l1()
    try:
        return read(client_for(endpoints))
    except errors.ResponseError as exc:
        raise CliError(f"the L1 answered with something unexpected: {exc}") from None


# ---------------------------------------------------------------- reads


def cmd_disputes(args: argparse.Namespace) -> int:
    games = _read_all(args, RollupClient.games)
    lines = [
        f"{'GAME':>4} {'OUTPUT':>6} {'L2 RANGE':>11} {'STATUS':<14} {'PHASE':<8} {'LO..HI':>11} {'TURN':<10} "
        f"{'CLOCK C/D':>9} {'BONDS C/D (wei)':>23} {'MOVES':>5} {'L1 BLOCKS':>11}"
    ]
    for g in games:
        clocks, bonds = g.clocks_now, g.bonds
        span = f"{g.created_at}..{g.resolved_at}" if g.resolved_at is not None else f"{g.created_at}.."
        turn = g.turn if g.status is Status.IN_PROGRESS else "-"
        lines.append(
            f"{g.game_id:>4} {g.output_index:>6} {str(g.start_block) + '..' + str(g.end_block):>11} "
            f"{g.status:<14} {g.phase:<8} {str(g.lo) + '..' + str(g.hi):>11} {turn:<10} "
            f"{str(clocks[Side.CHALLENGER]) + '/' + str(clocks[Side.DEFENDER]):>9} "
            f"{_short(bonds[Side.CHALLENGER]) + '/' + _short(bonds[Side.DEFENDER]):>23} {g.moves:>5} {span:>11}"
        )
    if not games:
        lines.append("(no dispute games)")
    emit(args, [to_json(g) for g in games], "\n".join(lines))
    return 0


def cmd_outputs(args: argparse.Namespace) -> int:
    outputs = _read_all(args, RollupClient.outputs)
    sources = _attestation_sources(args)
    views = {o.index: _attestations_for(sources, o.l2_block_number, o.output_root) for o in outputs}
    lines = [
        f"{'INDEX':>5} {'L2 BLOCK':>8} {'STATUS':<10} {'C/D':>5} {'GAMES':>9} {'PROPOSED':>8} {'FINALIZES':>9} "
        f"{'ATT':>5}  ROOT / PROPOSER"
    ]
    for o in outputs:
        parties = f"{len(o.challengers)}/{len(o.defenders)}" if o.dispute is not None else "-"
        games = o.game_ids
        span = "-" if not games else (str(games[0]) if len(games) == 1 else f"{games[0]}..{games[-1]}")
        view = views[o.index]
        lines.append(
            f"{o.index:>5} {o.l2_block_number:>8} {o.status:<10} {parties:>5} {span:>9} "
            f"{o.proposed_at:>8} {o.finalizes_at:>9} {'-' if view is None else view.cell():>5}  "
            f"{to_hex(o.output_root)} {to_checksum_address(o.proposer)}"
        )
    if not outputs:
        lines.append("(no output proposals)")
    elif sources:
        lines.append("ATT: attesters for this root / for another root (! = contradicted by an attester)")
    records = [to_json(o) | {"attestations": _view_json(views[o.index])} for o in outputs]
    emit(args, records, "\n".join(lines))
    return 0


def _view_json(view: ProposalAttestations | None) -> dict[str, Any] | None:
    return None if view is None else view.to_json()


def _attestation_sources(args: argparse.Namespace) -> list[str]:
    """--attestations-rpc URLs, else the devnet's executors (none: no attestation column values)."""
    urls: list[str] = list(args.attestations_rpc or [])
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise CliError(f"--attestations-rpc {url!r} is not an http(s) URL")
    if urls:
        return urls
    doc = load_devnet_json(args.dir) if args.l1_rpc is None else None
    executors = (doc or {}).get("executors") or []
    return [str(e["rpc"]) for e in executors if isinstance(e, dict) and isinstance(e.get("rpc"), str)]


def _attestations_for(sources: list[str], l2_block_number: int, root: bytes) -> ProposalAttestations | None:
    """The attestations the `sources` hold for a proposal; None when none of them answered."""
    reports = []
    for url in sources:
        try:
            reports.append(SyncRpcClient(url, timeout=5.0).call("rollup_getAttestations", l2_block_number))
        except (RpcTransportError, RpcError):
            continue  # unreachable, or a node without attestations
    if not reports:
        return None
    try:
        return compare_attestations(l2_block_number, root, reports)
    except (KeyError, TypeError, ValueError) as exc:
        raise CliError(f"a node answered rollup_getAttestations with something unexpected: {exc!r}") from None


def cmd_withdrawals(args: argparse.Namespace) -> int:
    items = _read_all(args, RollupClient.withdrawals)
    lines = [
        f"{'STATUS':<10} {'OUTPUT':>6} {'L2 BLOCK':>8} {'PROVEN':>6} {'PAID':>6} {'AMOUNT (wei)':>24}  RECIPIENT / ID"
    ]
    for w in items:
        paid = w.finalized_at
        lines.append(
            f"{w.status:<10} {w.output_index:>6} {w.l2_block_number:>8} {w.proven_at:>6} "
            f"{'-' if paid is None else paid:>6} {w.amount:>24}  {to_checksum_address(w.recipient)} "
            f"{to_hex(w.withdrawal_id)}"
        )
    if not items:
        lines.append("(no withdrawals proven on L1)")
    emit(args, [to_json(w) for w in items], "\n".join(lines))
    return 0


def _short(amount: Any) -> str:
    if amount is None:
        return "-"
    value = int(amount)
    return f"{value / 10**18:g}e18" if value >= 10**15 else str(value)


# ---------------------------------------------------------------- the journey


def cmd_complete_withdrawal(args: argparse.Namespace) -> int:
    withdrawal_id = parse_tx_hash(args.withdrawal_id)
    key = load_key(args)
    endpoints = _l1_endpoints(args)
    data = run_journey(args, endpoints, key, withdrawal_id, Deadline(args.timeout), progress)
    emit(args, data, journey_text(data))
    return 0
