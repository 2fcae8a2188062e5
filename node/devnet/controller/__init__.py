"""The devnet's control endpoint: one JSON-RPC server for the whole devnet (`python -m node.devnet.controller`).

`devnet up` starts it beside the chain's processes (port base+1050, recorded in devnet.json as
`control`); it is not a chain process: never snapshotted, and stopped by `devnet down`. Its methods
(node.devnet.controller.service) snapshot and revert the devnet, mine L1 blocks, move time forward
(node.devnet.controller.warp), set balances and oracle prices, kill, restart, pause and resume roles,
partition executors and make the proposer faulty. It acts on the processes devnet.json records, so
it works for foreground and detached devnets.
"""
