"""Verify a rollup_getProof reply locally against a state root: trust nothing but the hashes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.crypto import CryptoError, parse_hex
from node.encoding import DecodeError
from node.smt.hashing import hash_key
from node.smt.proof import Proof, ProofError, verify_proof
from node.state.schema import account_key, decode_account


@dataclass(frozen=True, slots=True)
class ProofCheck:
    verified: bool
    reason: str  # why it failed, or what it proved


def check_account_proof(address: bytes, reply: dict[str, Any], state_root_hex: str) -> ProofCheck:
    """Check that `reply` proves address -> (balance, nonce) (or absence) under `state_root_hex`.

    The key hash is recomputed from the address and the root comes from the
    block header, not from the reply; the reply's balance and nonce must be
    what the proven value encodes.
    """
    try:
        root = parse_hex(state_root_hex, 32, "state root")
        key_hash = hash_key(account_key(address))
        proof = Proof.decode(parse_hex(str(reply["proof"]), None, "proof"))
        raw_value = reply.get("value")
        value = None if raw_value is None else parse_hex(str(raw_value), None, "value")
        balance, nonce = (0, 0) if value is None else _account(value)
        if str(balance) != str(reply.get("balance")) or int(reply.get("nonce", -1)) != nonce:
            return ProofCheck(False, "the reply's balance/nonce differ from the proven value")
        verify_proof(root, key_hash, value, proof)
    except (ProofError, DecodeError, CryptoError, KeyError, TypeError, ValueError) as exc:
        return ProofCheck(False, str(exc) or type(exc).__name__)
    what = "absence of the account" if value is None else f"balance {balance}, nonce {nonce}"
    return ProofCheck(True, f"proves {what} under state root {state_root_hex}")


def _account(value: bytes) -> tuple[int, int]:
    account = decode_account(value)
    return account.balance, account.nonce
