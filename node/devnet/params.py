"""The devnet's fixed chain parameters, its user settings and the port plan.

Chain parameters (every devnet is the same chain, so saved chains resume):

| what                    | value                                            |
|-------------------------|--------------------------------------------------|
| L1 / L2 chain id        | 900 / 901                                        |
| L1 block time           | 1000 ms (`--l1-block-time-ms`)                   |
| L2 block time           | 200 ms (`--block-time-ms`)                       |
| challenge window        | 30 L1 blocks (`--challenge-window`)              |
| dispute game clock      | 15 L1 blocks per side (`--game-clock`)           |
| sequencing window       | 20 L1 blocks                                     |
| output interval         | every 10 L2 blocks                               |
| batcher / proposer key  | dev8 / dev9                                      |
| challenger key          | dev6 (honest), dev5 (`--faulty-challenger`)      |
| L2 fee recipient        | dev7's address                                   |
| min fee L1 / L2         | 10^12 / 10^9 wei                                 |
| L1 max batch size       | 1,000,000 bytes                                  |
| L1 genesis              | dev0..dev9 with 10^22 wei each                   |
| venue                   | BTC-PERP (id 0), ETH-PERP (id 1); oracle key     |
|                         | dev4; insurance fund `insurance_fund_address()`  |
|                         | funded with 10^21 wei at L2 genesis              |
| L2 genesis              | dev0..dev6 with 10^22 wei each (dev7 collects    |
|                         | fees, dev8/dev9 are the settler's L1 keys)       |

Ports from a base port P (default 8545, like anvil): L1 P, sequencer P+1000,
control endpoint P+1050, settler P+1100, challengers P+1150 (honest) and P+1151 (faulty), executor i
P+1200+i; libp2p: settler P+1299, sequencer P+1300, executor i P+1301+i. The sequencer signs gossiped
blocks with a fixed devnet key (`sequencer_gossip_key()`), whose address every executor's and the settler's
config names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from node.crypto import Address, PrivateKey, keccak256
from node.keys.hd import DEV_ACCOUNT_COUNT, dev_account

L1_CHAIN_ID = 900
L2_CHAIN_ID = 901
L1_BLOCK_TIME_MS = 1000
DEFAULT_L2_BLOCK_TIME_MS = 200
CHALLENGE_WINDOW = 30
GAME_CLOCK_BLOCKS = 15
CHALLENGER_KEY = "dev6"
FAULTY_CHALLENGER_KEY = "dev5"
FAULT_MODES = ("tx_post_state", "garbage")
SEQUENCING_WINDOW = 20
OUTPUT_INTERVAL = 10
MAX_SEQUENCER_DRIFT_MS = 10_000
BATCHER_KEY = "dev8"
PROPOSER_KEY = "dev9"
FEE_RECIPIENT_INDEX = 7
L1_MIN_FEE = 10**12
L2_MIN_FEE = 10**9
PROPOSER_BOND = 10**18
L1_MAX_BATCH_BYTES = 1_000_000  # ~14,000 transfers per batch: the settler keeps up with thousands of tx/s
GENESIS_BALANCE = 10**22
L1_FUNDED = tuple(range(DEV_ACCOUNT_COUNT))
L2_FUNDED = tuple(range(7))
VENUE_ORACLE_KEY = "dev4"
VENUE_ORACLE_INDEX = 4
INSURANCE_FUND_BALANCE = 10**21
# the devnet's markets ([[venue.markets]], see node.venue.markets): prices in wei per lot, quoted in the
# native unit (eth, 18 decimals, the collateral). BTC-PERP: a lot is 100 sats (0.000001 BTC), the tick
# 10^9 wei per lot = 0.001 eth per BTC; ETH-PERP: a lot is 10^12 wei-of-ETH (0.000001 ETH), the tick
# 0.0001 eth per ETH. Prices stay below MAX_PRICE = 2^48 wei per lot: at most 281.47 eth per BTC here, so a
# quote worth a dollar could not price BTC near 60000 with an 18-decimal collateral (not even at 1-sat lots).
VENUE_MARKETS: tuple[dict[str, Any], ...] = (
    {
        "id": 0,
        "symbol": "BTC-PERP",
        "tick_size": 1_000_000_000,
        "lot_size": 100,
        "initial_margin_bps": 1000,
        "maintenance_margin_bps": 500,
        "max_leverage": 10,
        "funding_interval_ms": 3_600_000,
        "funding_cap_bps": 75,
        "liquidation_fee_bps": 100,
        "maker_fee_bps": 2,
        "taker_fee_bps": 5,
        "oracle_band_bps": 1000,
        "base_decimals": 8,
        "quote_decimals": 18,
    },
    {
        "id": 1,
        "symbol": "ETH-PERP",
        "tick_size": 100_000_000,
        "lot_size": 1_000_000_000_000,
        "initial_margin_bps": 1000,
        "maintenance_margin_bps": 500,
        "max_leverage": 10,
        "funding_interval_ms": 3_600_000,
        "funding_cap_bps": 75,
        "liquidation_fee_bps": 100,
        "maker_fee_bps": 2,
        "taker_fee_bps": 5,
        "oracle_band_bps": 1000,
        "base_decimals": 18,
        "quote_decimals": 18,
    },
)
# the seeded oracle prices (node.devnet.venue_seed): 20 eth per BTC, 1 eth per ETH
VENUE_START_PRICES = {0: 20_000_000_000_000, 1: 1_000_000_000_000}

DEFAULT_BASE_PORT = 8545
SEQUENCER_PORT_OFFSET = 1000
CONTROL_PORT_OFFSET = 1050  # the devnet's control endpoint (node.devnet.controller)
SETTLER_PORT_OFFSET = 1100
CHALLENGER_PORT_OFFSET = 1150  # the honest challenger; the faulty one at P+1151
EXECUTOR_PORT_OFFSET = 1200
P2P_PORT_OFFSET = 1300  # libp2p: the sequencer at P+1300, executor i at P+1301+i
SETTLER_P2P_PORT_OFFSET = 1299  # libp2p: the settler (a gossip peer bootstrapping to the sequencer)
CHALLENGER_P2P_PORT_OFFSET = 1298  # libp2p: the honest challenger (attestations; prover.attestations)
DEFAULT_EXECUTORS = 2
MAX_EXECUTORS = 16
RPC_HOST = "127.0.0.1"
MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class DevnetSettings:
    """What `devnet up` lets the user choose (saved in devnet.json and reused on resume)."""

    base_port: int = DEFAULT_BASE_PORT
    executors: int = DEFAULT_EXECUTORS
    block_time_ms: int = DEFAULT_L2_BLOCK_TIME_MS
    censor: tuple[str, ...] = field(default_factory=tuple)  # checksummed addresses
    l1_block_time_ms: int = L1_BLOCK_TIME_MS
    challenge_window: int = CHALLENGE_WINDOW
    game_clock: int = GAME_CLOCK_BLOCKS
    faulty_proposer: int | None = None  # the first proposal at or after this L2 block is wrong
    fault_mode: str = FAULT_MODES[0]
    faulty_challenger: bool = False  # an extra challenger that disputes every output

    def __post_init__(self) -> None:
        if not 50 <= self.l1_block_time_ms <= 60_000:
            raise ValueError(f"--l1-block-time-ms must be in [50, 60000], got {self.l1_block_time_ms}")
        if not 2 <= self.challenge_window <= 1_000_000:
            raise ValueError(f"--challenge-window must be in [2, 1000000] L1 blocks, got {self.challenge_window}")
        if not 2 <= self.game_clock <= 1_000_000:
            raise ValueError(f"--game-clock must be in [2, 1000000] L1 blocks, got {self.game_clock}")
        if self.faulty_proposer is not None and self.faulty_proposer < 1:
            raise ValueError(f"--faulty-proposer must be an L2 block number >= 1, got {self.faulty_proposer}")
        if self.fault_mode not in FAULT_MODES:
            raise ValueError(f"--fault-mode must be one of {', '.join(FAULT_MODES)}, got {self.fault_mode!r}")
        if not 1 <= self.executors <= MAX_EXECUTORS:
            raise ValueError(f"--executors must be in [1, {MAX_EXECUTORS}], got {self.executors}")
        if not 10 <= self.block_time_ms <= 60_000:
            raise ValueError(f"--block-time-ms must be in [10, 60000], got {self.block_time_ms}")
        highest = self.base_port + P2P_PORT_OFFSET + self.executors
        if self.base_port < 1 or highest > MAX_PORT:
            raise ValueError(
                f"--base-port {self.base_port} puts ports outside [1, {MAX_PORT}] "
                f"(the devnet uses base .. base+{P2P_PORT_OFFSET + self.executors})"
            )


@dataclass(frozen=True, slots=True)
class PortPlan:
    l1: int
    sequencer: int
    settler: int
    executors: tuple[int, ...]
    challengers: tuple[int, ...] = ()

    def all(self) -> list[int]:
        return [self.l1, self.sequencer, self.settler, *self.challengers, *self.executors]


def port_plan(settings: DevnetSettings) -> PortPlan:
    base = settings.base_port
    return PortPlan(
        l1=base,
        sequencer=base + SEQUENCER_PORT_OFFSET,
        settler=base + SETTLER_PORT_OFFSET,
        executors=tuple(base + EXECUTOR_PORT_OFFSET + i for i in range(settings.executors)),
        challengers=tuple(base + CHALLENGER_PORT_OFFSET + i for i in range(2 if settings.faulty_challenger else 1)),
    )


def control_port(settings: DevnetSettings) -> int:
    return settings.base_port + CONTROL_PORT_OFFSET


def fee_recipient() -> Address:
    return dev_account(FEE_RECIPIENT_INDEX).address


def l1_genesis() -> dict[Address, int]:
    return {dev_account(i).address: GENESIS_BALANCE for i in L1_FUNDED}


def l2_genesis() -> dict[Address, int]:
    alloc = {dev_account(i).address: GENESIS_BALANCE for i in L2_FUNDED}
    alloc[insurance_fund_address()] = INSURANCE_FUND_BALANCE
    return alloc


def insurance_fund_address() -> Address:
    """The venue's insurance fund: an address nobody holds a key for (like the PnL pool)."""
    return Address(keccak256(b"rollup-devnet venue insurance fund")[12:])


def venue_oracle_address() -> Address:
    return dev_account(VENUE_ORACLE_INDEX).address


def faucet_key() -> PrivateKey:
    """The L1 account the control endpoint mints on and deposits from to raise an L2 balance (public)."""
    return PrivateKey(hashlib.sha256(b"rollup-devnet faucet key").digest())


def sequencer_gossip_key() -> PrivateKey:
    """The devnet sequencer's block-signing key (public, like the dev accounts)."""
    return PrivateKey(hashlib.sha256(b"rollup-devnet sequencer gossip key").digest())


def p2p_seed_label(name: str) -> str:
    return f"rollup-devnet {name}"
