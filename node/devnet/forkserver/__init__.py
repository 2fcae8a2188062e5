"""A fork server for the devnet's processes: import every role's code once, fork each process from it.

Most of a devnet process's start-up is importing its code (about 0.5 CPU-s each, on 2 cores).
`python -m node.devnet.forkserver --socket DIR/run/forkserver.sock` imports the roles' modules
(in idle time, in start order; a request for a module not loaded yet imports it first) while
holding no event loop, no thread and no open database, and forks a process per request:

    server.py    the loop: bind the socket, preload, answer requests, fork, reap and record exits
    child.py     what a forked child does before it runs `python -m MOD --config FILE`'s code
    protocol.py  the request and reply (one JSON line each)
    client.py    start, reach and stop the server; `fork_child` returns a started devnet Child

A forked child keeps the server's command line, so the server records it in DIR/run/<name>.pid
(node.devnet.pidfile) before answering: node.devnet.procfs.is_our_process accepts that pid
while its start time matches the record.
"""
