"""Crash-safety helper: seal blocks into a ChainStore as fast as possible until killed.

    python tests/support/crash_writer.py DBDIR [SEED]

Opens (or creates) the chain at DBDIR with the genesis below, then loops:
build a block of a few hundred signed transfers (plus one deposit and one
withdrawal), `seal_block` it, and print `COMMITTED <number> <state_root_hex>`
(flushed) once `seal_block` has returned. tests/processes/test_crash_safety.py kills it
with SIGKILL at random moments and checks the reopened database.

The constants are imported by the test: every address that can ever hold
state is in `ALL_ADDRESSES`, so the test can account for every state entry.
"""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path

from node.chain import Chain
from node.crypto import Address, PrivateKey
from node.state.schema import get_account
from node.stf import ChainConfig, recover_transaction
from node.store.chain import ChainStore
from node.tx import DepositTx, Transfer, Withdrawal, sign_tx

CHAIN_ID = 4242
FEE = 1
TXS_PER_BLOCK = 250
SENDER_KEYS = [PrivateKey((i + 1).to_bytes(32, "big")) for i in range(TXS_PER_BLOCK)]
SENDERS = [key.address for key in SENDER_KEYS]
RECIPIENTS = [Address(hashlib.sha256(b"crash-recipient-%d" % i).digest()[:20]) for i in range(600)]
FEE_RECIPIENT = Address(b"\xfe" * 20)
L1_SENDER = Address(b"\x11" * 20)
L1_RECIPIENT = Address(b"\x22" * 20)
ALL_ADDRESSES = list(dict.fromkeys([*SENDERS, *RECIPIENTS, FEE_RECIPIENT]))
GENESIS_BALANCE = 10**12
ALLOC = {address: GENESIS_BALANCE for address in SENDERS}
GENESIS_SUPPLY = sum(ALLOC.values())
DEPOSIT_AMOUNT = 777  # one deposit per block, to RECIPIENTS[block % len]
CONFIG = ChainConfig(chain_id=CHAIN_ID, fee_recipient=FEE_RECIPIENT, min_fee=FEE)
MAX_BLOCKS = 2_000  # a safety stop; the test kills the writer long before


def open_chain(path: Path | str) -> tuple[ChainStore, Chain]:
    store = ChainStore(path)
    chain = Chain(store, CONFIG)
    chain.init_genesis(ALLOC)
    return store, chain


def block_candidates(chain: Chain, number: int, rng: random.Random) -> list[bytes]:
    """Raw transactions for block `number`: one per sender, nonces from the latest state."""
    state = chain.store.latest_state()
    raws = []
    for i, key in enumerate(SENDER_KEYS):
        nonce = get_account(state, key.address).nonce
        amount = rng.randint(1, 1_000)
        if i == number % len(SENDER_KEYS):
            payload = Withdrawal(L1_RECIPIENT, amount)
        else:
            payload = Transfer(rng.choice(RECIPIENTS), amount)
        raws.append(sign_tx(key, CHAIN_ID, nonce, FEE, payload).encode())
    return raws


def block_deposit(number: int) -> DepositTx:
    return DepositTx(number, 0, L1_SENDER, RECIPIENTS[number % len(RECIPIENTS)], DEPOSIT_AMOUNT)


def main(argv: list[str]) -> int:
    path = argv[1]
    seed = int(argv[2]) if len(argv) > 2 else 0
    store, chain = open_chain(path)
    rng = random.Random(seed)
    while chain.head().number < MAX_BLOCKS:
        number = chain.head().number + 1
        candidates = [recover_transaction(raw) for raw in block_candidates(chain, number, rng)]
        sealed, build = chain.seal_block(
            candidates, number * 1000, (number, bytes(32)), deposits=[block_deposit(number)]
        )
        if build.rejected:  # cannot happen: every candidate is built to be valid
            print(f"REJECTED {build.rejected[0].error}", flush=True)
            return 1
        sys.stdout.write(f"COMMITTED {sealed.head.number} {sealed.head.state_root.hex()}\n")
        sys.stdout.flush()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
