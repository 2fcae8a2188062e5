"""Test-only misbehaving L1 actors: a faulty proposer and a challenger that disputes everything.

Production code never imports this package. Each fault mode runs as its own
entry point over the production process, with its behaviour injected:

    python -m l1.faults.settler --config FILE      the settler, with one wrong output ([faults] proposer_*)
    python -m l1.faults.challenger --config FILE   a challenger that disputes every output of others

`rollup devnet up --faulty-proposer N` / `--faulty-challenger` start them.
"""
