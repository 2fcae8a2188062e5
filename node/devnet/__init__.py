"""`rollup devnet`: lay out, start, supervise and stop a local multi-process devnet.

Modules, one job each:
  params      the devnet's fixed chain parameters, user settings and port plan
  toml        a tiny TOML writer for the generated configs
  layout      where everything lives under the devnet directory, which processes exist
  configs     the TOML config of each process
  ports       checking that the planned ports are free
  procfs      /proc helpers: is a pid alive (not a zombie), is it ours
  pidfile     DIR/run/<name>.pid: who a forked process is (pid, start time, exit status)
  children    starting (cold: `python -m`) and stopping the child processes
  forkserver/ imports every role once and forks the devnet's processes from it
  signals     SIGINT/SIGTERM/SIGHUP as a flag the supervisor checks
  readiness   waiting for /health, JSON-RPC and the first safe L2 block
  logs        log tails for error reports
  state       devnet.json (read, atomic write, locked read-modify-write)
  banner      the anvil-like start-up banner
  settings    the devnet's settings: command line, then devnet.json, then the defaults
  liveness    which recorded processes (and the foreground supervisor) still run
  up          `devnet up`: prepare, start in stages, supervise
  revive      `devnet up` on a partly running devnet: restart only the dead processes
  roles       `devnet kill ROLE` and `devnet restart ROLE`: one process, in place
  control     `devnet down` and `devnet status`
  soak/       the chaos soak behind scripts/soak.py: load, kill/restart plan, end-of-run checks
For the wallet commands (node/cli/wallet.py):
  inputs      parsing amounts, addresses and dev names, block tags, tx hashes
  endpoints   which RPC URLs a command talks to (--rpc/--l1-rpc or devnet.json)
  waiting     polling until a transaction is unsafe/safe/finalized
  proofcheck  verifying an account proof locally
"""
