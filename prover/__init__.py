"""The challenger: re-derives the L2 chain from L1 data only and plays the dispute games.

    rollup challenger --config FILE        (python -m prover --config FILE)

Modules, pure ones first:
    config.py           [challenger] l1_rpc, key, bond, poll_ms, history_window, defend, allies, backstop_blocks
    games.py            GameView / OutputView from the L1 client's records (clocks by side, one block ahead)
    oracle.py           TraceOracle: our output roots, intermediate roots r(n, k), openings, step proofs
    strategy.py         decide(game, side, player) -> claim / respond / open / prove / resolve / wait
    players.py          HonestPlayer (our chain), ContrarianPlayer (the faulty dispute_all challenger)
    verdicts.py         judge outputs, whether to dispute or defend, the L1's anchor rule, which side we play
    allies.py           [challenger] allies: hold our bond back while an allied challenger covers a wrong output
    notices.py          signed "I dispute output N" notices (encoding, validation)
    withdrawal_proof.py rollup_getWithdrawalProof over our derived chain
    (node.follower)     ChainStore + Chain + Deriver fed by the L1 client (no sequencer, no gossip)
    l1_disputes.py      L1 reads and signed dispute transactions (the same L1Client, l1.contracts.payloads)
    referee.py          one round: judge, dispute, act in every game we play, collect receipts
    notice_net.py       the notice topic /rollup/<chain>/disputes/1 on the attestation watch's node (allies only)
    challenger.py       the process: lifecycle, loops, JSON-RPC (L2 reads, challenger_status, proofs)
"""
