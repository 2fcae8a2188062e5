"""The settler's held blocks reloaded by a devnet revert (l1.settler.revert): known bytes are not validated again.

A BlockStore given `known` (the messages this settler held at a snapshot's hold, by their exact
bytes) takes those files as they are, and still validates every other file as start-up does: one
that fails (a bad signature, or a block in another height's file) is deleted.
"""

from __future__ import annotations

from pathlib import Path

from l1.settler.blockstore import BlockStore
from tests.settler.test_settler_gossip_blocks import RULES, sealed_chain, signed_blocks


def test_known_blocks_are_taken_and_the_others_still_checked(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path)
    signed = signed_blocks(seq.chain)[:3]
    store = BlockStore(tmp_path / "held", RULES)
    for message in signed:
        store.add(message)
    known = {store.raw[n]: store.blocks[n] for n in store.blocks}
    first = min(store.blocks)
    path = store.directory / f"{first:016d}.blk"
    tampered = bytearray(path.read_bytes())
    tampered[-1] ^= 0xFF  # the signature no longer matches
    forged = store.directory / "0000000000099999.blk"
    forged.write_bytes(bytes(tampered))

    again = BlockStore(tmp_path / "held", RULES, known=known)
    assert again.blocks == store.blocks and again.raw == store.raw
    assert again.load_report.deleted == 1 and not forged.exists()  # not known: validated, and refused

    misplaced = store.directory / "0000000000088888.blk"
    misplaced.write_bytes(store.raw[first])  # known bytes, but in another height's file
    third = BlockStore(tmp_path / "held", RULES, known=known)
    assert third.load_report.deleted == 1 and not misplaced.exists()
    assert third.blocks == store.blocks
