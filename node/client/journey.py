"""A withdrawal's L1 side through the client: node.devnet.withdrawal_journey, its errors made the client's.

The journey (wait for a finalized output covering the withdrawal, prove it
on L1, finalize it) is a blocking loop of node.devnet.withdrawal_journey;
RollupClient runs it directly and AsyncRollupClient in a worker thread.
"""

from __future__ import annotations

import time
from typing import Any

from node.client.errors import (
    ClientError,
    WaitTimeout,
    WithdrawalFailed,
    from_rpc_error,
    from_transport_error,
)
from node.client.inputs import KeyLike, to_hash, to_key, to_timeout
from node.client.sansio import Endpoints
from node.client.waits import Progress
from node.devnet.errors import DevnetError
from node.rpc.client import RpcTransportError
from node.rpc.errors import RpcError

DEFAULT_JOURNEY_TIMEOUT_S = 600.0


def complete_withdrawal(
    endpoints: Endpoints,
    key: KeyLike,
    withdrawal_id: str | bytes,
    timeout: float = DEFAULT_JOURNEY_TIMEOUT_S,
    progress: Progress | None = None,
    end: float | None = None,
) -> dict[str, Any]:
    """Prove and finalize L2 withdrawal `withdrawal_id` on L1 (paying the fees with `key`); the journey's report:
    withdrawalId, l2Block, outputIndex, outputL2Block, recipient, amount, proveTx/provenInL1Block,
    finalizeTx/finalizedInL1Block, paid, l1BalanceBefore/After (node.devnet.withdrawal_journey).

    `end` (time.monotonic()) overrides `timeout` as the deadline, for a caller sharing one deadline."""
    from node.devnet.waiting import Deadline
    from node.devnet.waiting import WaitTimeout as DevnetWaitTimeout
    from node.devnet.withdrawal_journey import WithdrawalFailed as DevnetWithdrawalFailed
    from node.devnet.withdrawal_journey import complete_withdrawal as journey

    signer = to_key(key)
    wid = to_hash(withdrawal_id, "withdrawal id")
    seconds = to_timeout(timeout)
    l1, proof_rpc = endpoints.require_l1(), endpoints.require_proof_rpc()
    deadline = Deadline(seconds)
    deadline.end = end if end is not None else time.monotonic() + seconds
    try:
        return journey(l1, proof_rpc, signer, wid, deadline, progress or (lambda line: None))
    except DevnetWaitTimeout as exc:
        raise WaitTimeout(str(exc)) from None
    except DevnetWithdrawalFailed as exc:
        raise WithdrawalFailed(str(exc)) from None
    except RpcError as exc:
        raise from_rpc_error(exc, None) from None
    except RpcTransportError as exc:
        raise from_transport_error(exc) from None
    except DevnetError as exc:  # an L1 transaction of the journey failed (node.devnet.waiting.L1TxFailed)
        raise ClientError(str(exc)) from None
