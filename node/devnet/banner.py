"""The anvil-like banner `devnet up` prints once the devnet is ready."""

from __future__ import annotations

from typing import Any

KEY_WARNING = (
    "WARNING: these private keys are PUBLIC (the well-known anvil/hardhat test mnemonic).\n"
    "Anyone can spend from these accounts: never send real funds to them, on any chain."
)


def render_banner(state: dict[str, Any], seconds: float) -> str:
    params, fees, roles = state["params"], state["fees"], state["roles"]
    lines = [
        "",
        "  rollup devnet",
        "  =============",
        "",
        f"Directory:        {state['dir']}",
        f"L1 chain id:      {state['l1_chain_id']}   (block time {params['l1_block_time_ms']} ms)",
        f"L2 chain id:      {state['chain_id']}   (block time {params['l2_block_time_ms']} ms)",
        f"Windows:          challenge {params['challenge_window']} L1 blocks, "
        f"sequencing {params['sequencing_window']} L1 blocks, output every {params['output_interval']} L2 blocks",
        f"Dispute games:    {params.get('game_clock_blocks', '?')} L1 blocks on each side's clock",
        f"Min fees:         L1 {fees['l1_min_fee']} wei, L2 {fees['l2_min_fee']} wei",
        f"Batcher/proposer: {roles['batcher']} / {roles['proposer']}",
        f"Fee recipient:    {roles['fee_recipient']}",
        "",
        "Endpoints",
        "=========",
        f"L1 RPC:           {state['l1']['rpc']}",
        f"Sequencer RPC:    {state['sequencer']['rpc']}",
        f"Sequencer WS:     {state['sequencer']['ws']}",
    ]
    control = state.get("control")
    if isinstance(control, dict):
        lines.insert(
            lines.index(f"L1 RPC:           {state['l1']['rpc']}"),
            f"Control RPC:      {control['rpc']}  (snapshot, revert, mine, balances: `rollup devnet --help`)",
        )
    for executor in state["executors"]:
        label = f"{executor['name']}:"
        lines.append(f"{label:<18}{executor['rpc']}  ws {executor['ws']}")
    for challenger in state.get("challengers") or []:
        label = f"{challenger['name']}:"
        lines.append(f"{label:<18}{challenger['rpc']}  ({challenger['mode']}, L1 key {challenger['address']})")
    lines += [
        f"Settler metrics:  {state['settler']['metrics']}",
        "",
        "Available Accounts",
        "==================",
    ]
    for account in state["accounts"]:
        lines.append(f"({account['name'][3:]}) {account['name']:<5} {account['address']}")
    lines += ["", "Private Keys", "==================="]
    for account in state["accounts"]:
        lines.append(f"({account['name'][3:]}) {account['private_key']}")
    settings = state.get("settings", {})
    censor = settings.get("censor") or []
    if censor:
        lines += ["", "Censored by the sequencer (test mode): " + ", ".join(censor)]
    if settings.get("faulty_proposer") is not None:
        lines += [
            "",
            f"FAULTY PROPOSER (test mode): the first output at or after L2 block {settings['faulty_proposer']} "
            f"is wrong ({settings.get('fault_mode')})",
        ]
    if settings.get("faulty_challenger"):
        lines += ["", "FAULTY CHALLENGER (test mode): the challenger 'dispute-all' disputes every output"]
    lines += [
        "",
        "L2 genesis funds dev0..dev6 with 10^22 wei each; L1 genesis funds dev0..dev9.",
        "",
        KEY_WARNING,
        "",
        f"Ready in {seconds:.1f} s. Logs in {state['dir']}/logs/. "
        + (
            "Detached: stop with `rollup devnet down" + _dir_flag(state) + "`."
            if state.get("detached")
            else "Press Ctrl-C to stop."
        ),
    ]
    return "\n".join(lines)


def _dir_flag(state: dict[str, Any]) -> str:
    return f" --dir {state['dir']}"
