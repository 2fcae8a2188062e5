"""Attackers on L1 against a running devnet (issue 10): each attack is made by an attacker key and loses.

1. A fake state and a drained portal. The attacker holds the proposer's key (the settler is stopped so the key
   is the attacker's alone): an output for L2 block 1,000,000,000 is refused (the L1 has not derived it), and
   so is any output from a key that is not the proposer's. An output for an existing block whose root opens a
   made-up state holding a withdrawal of everything in the portal to a fresh address is accepted, and the
   withdrawal is proven against it; the honest challenger disputes it, the liar never opens a block the L1
   derived, the output is defeated and the portal pays nothing. The settler then goes on proposing and outputs
   keep finalizing.
2. A challenger against an honest output while its proposer is offline. The attacker disputes an honest
   output with the settler stopped, and tries to move for the defender in the proposer's game (refused: only
   a game's players move for their side). The honest challenger joins the defence with its own bond and beats
   the attacker; the offline proposer loses its own game on time, yet the output finalizes, the proposer gets
   its bond back and the attacker's bond goes to the honest challenger.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

from l1.chain.tx import sign_l1_tx
from l1.contracts.errors import L2BlockNotDerived, NotProposer, NotThePlayer, OutputDefeated, OutputNotFinalized
from l1.contracts.payloads import (
    DisputeOutput,
    FinalizeWithdrawal,
    GameMove,
    ProposeOutput,
    ProveWithdrawal,
    ResolveGame,
)
from node.crypto import PrivateKey, keccak256, to_checksum_address
from node.fraud.game import Claim, Side
from node.keys.hd import dev_account
from node.output import compute_output_root
from node.rpc.client import SyncRpcClient
from node.smt.hashing import hash_key
from node.smt.reference import MemoryTree
from node.state.schema import WithdrawalRecord, encode_withdrawal, withdrawal_key
from tests.processes.test_fraud_devnet import BOND, Devnet, challenger, cli, l1_balance, make_devnet, outputs, wait_for  # noqa: F401

ATTACKER = dev_account(0)
PROPOSER_KEY = dev_account(9)  # the devnet's proposer (node/devnet/params.py PROPOSER_KEY)
FRESH = PrivateKey(keccak256(b"attacker's fresh L1 address")).address
WINDOW = ["--challenge-window", "60", "--game-clock", "12"]


class L1:
    """Signed L1 transactions from a test key, one at a time, waiting for each receipt."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.rpc = SyncRpcClient(doc["l1"]["rpc"])
        config = self.rpc.call("l1_config")
        self.chain_id, self.fee = int(config["chainId"]), int(config["minFee"])

    def run(self, key: PrivateKey, payload: Any, value: int = 0) -> dict[str, Any]:
        nonce = int(self.rpc.call("l1_getNonce", "0x" + key.address.hex()))
        tx = sign_l1_tx(key, self.chain_id, nonce, self.fee, value, payload)
        tx_hash = self.rpc.call("l1_sendRawTransaction", "0x" + tx.encode().hex())
        return wait_for(
            lambda: self.rpc.call("l1_getTransactionReceipt", tx_hash), 30, f"{payload.NAME} to be included"
        )

    def refused(self, key: PrivateKey, payload: Any, code: int, value: int = 0) -> str:
        receipt = self.run(key, payload, value)
        assert (receipt["status"], receipt["errorCode"]) == (0, code), receipt
        return str(receipt["error"])

    def head(self) -> int:
        return int(self.rpc.call("l1_blockNumber"))

    def output(self, index: int) -> dict[str, Any]:
        (item,) = self.rpc.call("l1_getOutputs", index, 1)
        return dict(item)


class Stopped:
    """SIGSTOP a devnet process for the duration of a `with` block (it keeps its sockets, does nothing)."""

    def __init__(self, net: Devnet, name: str) -> None:
        self.pid = int(net.process(name)["pid"])

    def __enter__(self) -> Stopped:
        os.kill(self.pid, signal.SIGSTOP)
        return self

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


def fake_state_output(l2_block: int, recipient: bytes, amount: int) -> tuple[bytes, ProveWithdrawal]:
    """An output root opening a made-up state that holds one withdrawal, and the proof of that withdrawal."""
    withdrawal_id = keccak256(b"a withdrawal the L2 never made")
    record = WithdrawalRecord(ATTACKER.address, recipient, amount, l2_block)
    key_hash = hash_key(withdrawal_key(withdrawal_id))
    tree = MemoryTree({key_hash: encode_withdrawal(record)})
    state_root, block_hash = tree.root(), keccak256(b"no such header")
    proof = tree.prove(key_hash).encode()
    root = compute_output_root(l2_block, state_root, block_hash)
    return root, ProveWithdrawal(0, withdrawal_id, record, state_root, block_hash, proof)


def finalized_count(l1: L1) -> int:
    return sum(1 for o in l1.rpc.call("l1_getOutputs", 0, 256) if o["status"] == "finalized")


@pytest.mark.slow
def test_a_fake_state_never_finalizes_and_the_portal_pays_nothing(make_devnet: Callable[..., Devnet]) -> None:  # noqa: F811
    net = make_devnet(*WINDOW)
    doc = net.doc
    l1 = L1(doc)
    try:
        cli("deposit", "--dir", str(net.directory), "--key", "dev1", "--amount", str(5 * 10**18), "--wait", "safe")
        portal = 5 * 10**18
        with Stopped(net, "settler"):  # the proposer's key is the attacker's now
            l2_head = int(l1.rpc.call("l1_getL2Head")["number"])
            assert l2_head > 0
            message = l1.refused(PROPOSER_KEY, ProposeOutput(10**9, b"\x01" * 32), L2BlockNotDerived.rpc_code, BOND)
            assert "not derived" in message
            l1.refused(ATTACKER, ProposeOutput(l2_head, b"\x01" * 32), NotProposer.rpc_code, BOND)
            root, prove = fake_state_output(l2_head, FRESH, portal)
            proposed = l1.run(PROPOSER_KEY, ProposeOutput(l2_head, root), BOND)
            assert proposed["status"] == 1, proposed
            index = int(proposed["events"][0]["index"])
            prove = ProveWithdrawal(
                index, prove.withdrawal_id, prove.record, prove.state_root, prove.block_hash, prove.proof
            )
            assert l1.run(ATTACKER, prove)["status"] == 1  # accepted while the output is pending...
            l1.refused(
                ATTACKER, FinalizeWithdrawal(prove.withdrawal_id), OutputNotFinalized.rpc_code
            )  # ...but not paid
            finalized_before = finalized_count(l1)
        honest = challenger(doc, "honest")["address"]
        defeated = wait_for(
            lambda: (o := l1.output(index))["status"] == "defeated" and o, 90, "the fake output's defeat"
        )
        assert [c["address"] for c in defeated["dispute"]["challengers"]] == [honest]
        assert defeated["dispute"]["challengers"][0]["wins"] == 1
        l1.refused(ATTACKER, FinalizeWithdrawal(prove.withdrawal_id), OutputDefeated.rpc_code)
        assert l1_balance(doc, to_checksum_address(FRESH)) == 0
        # the settler goes on: honest outputs keep finalizing
        wait_for(lambda: finalized_count(l1) > finalized_before, 90, "an honest output to finalize after the attack")
    except BaseException:
        print(net.logs("challenger"), net.logs("settler"), sep="\n")
        raise


@pytest.mark.slow
def test_an_honest_output_survives_a_challenger_while_its_proposer_is_offline(
    make_devnet: Callable[..., Devnet],  # noqa: F811
) -> None:
    net = make_devnet(*WINDOW)
    doc = net.doc
    l1 = L1(doc)
    honest = challenger(doc, "honest")["address"]
    proposer = doc["roles"]["proposer"]
    try:
        target = wait_for(
            lambda: next(
                (
                    o
                    for o in l1.rpc.call("l1_getOutputs", 0, 256)
                    if o["status"] == "pending" and o["finalizesAt"] - l1.head() > 45
                ),
                None,
            ),
            60,
            "an honest output with most of its window left",
        )
        index = int(target["index"])
        attacker_before = l1_balance(doc, to_checksum_address(ATTACKER.address))
        honest_before = l1_balance(doc, honest)
        with Stopped(net, "settler"):
            disputed = l1.run(ATTACKER, DisputeOutput(index), BOND)
            assert disputed["status"] == 1, disputed
            vs_proposer = int(disputed["events"][0]["gameId"])
            # the attacker cannot speak for the offline proposer in its game
            message = l1.refused(
                ATTACKER, GameMove(vs_proposer, Claim(Side.DEFENDER, b"\x0b" * 32)), NotThePlayer.rpc_code
            )
            assert "defender" in message
            # the honest challenger joins the defence: its own game against the attacker
            joined = wait_for(
                lambda: len(l1.output(index)["dispute"]["defenders"]) == 2 and l1.output(index),
                30,
                "the honest challenger to join the defence",
            )
            assert joined["dispute"]["defenders"][1]["address"] == honest
            # the attacker stays silent in its game against the honest defender and loses it on time; it wins
            # the offline proposer's game on time
            game = wait_for(lambda: l1.rpc.call("l1_getGame", vs_proposer), 10, "the proposer's game")
            wait_for(
                lambda: l1.head() > game["turnStartedAt"] + game["clockBlocks"], 30, "the proposer's clock to run out"
            )
            assert l1.run(ATTACKER, ResolveGame(vs_proposer))["status"] == 1
        settled = wait_for(
            lambda: (o := l1.output(index))["status"] in ("finalized", "defeated") and o, 90, "the output to settle"
        )
        assert settled["status"] == "finalized"
        challengers, defenders = settled["dispute"]["challengers"], settled["dispute"]["defenders"]
        assert challengers[0]["wins"] == 1 and challengers[0]["beatenBy"] == 1  # it beat the proposer, lost to us
        # bonds (settled with the output, tests/l1/test_l1_dispute_parties.py checks them to the wei): the attacker's
        # goes to the honest challenger, every defender's (the offline proposer's too) comes back
        assert l1_balance(doc, to_checksum_address(ATTACKER.address)) < attacker_before - BOND
        assert l1_balance(doc, honest) > honest_before + BOND - 10**17  # won the attacker's bond, minus fees
        assert defenders[0]["address"] == proposer and defenders[0]["beatenBy"] == 0
        stats = SyncRpcClient(challenger(doc, "honest")["rpc"]).call("challenger_status")["stats"]
        assert stats["defences"] == 1 and stats["lost"] == 0
    except BaseException:
        print(net.logs("challenger"), net.logs("settler"), sep="\n")
        raise
