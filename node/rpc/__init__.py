"""JSON-RPC 2.0 framework shared by every devnet process.

`RpcServer` serves HTTP + WebSocket, `RpcClient` / `SyncRpcClient` call it,
`node.rpc.params` validates parameters and `Metrics` backs GET /metrics.
"""

from node.rpc.client import RpcClient, RpcTransportError, SyncRpcClient
from node.rpc.errors import (
    InternalError,
    InvalidParams,
    InvalidRequest,
    LimitExceeded,
    MethodNotFound,
    ParseError,
    ResourceNotFound,
    RpcError,
    Unavailable,
    error_from_json,
    rpc_error_from,
)
from node.rpc.metrics import Counter, Gauge, Histogram, Metrics
from node.rpc.server import ListenError, PortInUse, RpcServer, UnknownTopic

__all__ = [
    "Counter",
    "Gauge",
    "Histogram",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "LimitExceeded",
    "ListenError",
    "MethodNotFound",
    "Metrics",
    "ParseError",
    "PortInUse",
    "ResourceNotFound",
    "RpcClient",
    "RpcError",
    "RpcServer",
    "RpcTransportError",
    "SyncRpcClient",
    "Unavailable",
    "UnknownTopic",
    "error_from_json",
    "rpc_error_from",
]
