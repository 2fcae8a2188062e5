"""In-process snapshot and revert of one devnet role: its loops paused at a block boundary, its store swapped.

A revert that kills and restarts every process costs about 0.5 s, most of it the processes starting
again. Here each role process reverts itself, keeping its RPC server, its libp2p host and its peers:

    paths.py      which directories a control call may name (inside the devnet's own snapshots dir)
    swap.py       the store's copy staged beside the data dir, then exchanged with it atomically
    copying.py    a consistent copy of a live data dir (RocksDB checkpoints plus the side files)
    reloadable.py what a role implements (hold, stop its loops, close, reopen, start its loops)
    control.py    the devnet-only JSON-RPC methods over one role's Reloadable
    client.py     the controller's side: calls the methods on every process, in order

The devnet-wide orchestration (which processes take this path, which fall back to kill and restart)
is node.devnet.snapshot_ops.
"""
