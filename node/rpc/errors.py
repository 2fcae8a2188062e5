"""JSON-RPC 2.0 error types shared by the server and the clients.

Every error a handler may return to a caller is an `RpcError` carrying a
numeric code. The standard JSON-RPC codes have their own subclasses; the
devnet adds server-defined codes: -32004..-32006, and -32003, -32008, -32009
for devnet control (`devnet_*` methods). Domain errors
elsewhere in the node (the state transition's `InvalidTransaction` family,
chain errors) carry an integer `rpc_code` class attribute instead of
depending on this module; `rpc_error_from` turns those into `RpcError`s.
"""

from __future__ import annotations

from typing import Any, ClassVar

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32004
LIMIT_EXCEEDED = -32005
UNAVAILABLE = -32006
CONTROL_REFUSED = -32003
CONTROL_DISABLED = -32008
UNKNOWN_SNAPSHOT = -32009


def _restore(cls: type[RpcError], code: int, message: str, data: Any) -> RpcError:
    error = cls.__new__(cls)
    RpcError.__init__(error, code, message, data)
    return error


class RpcError(Exception):
    """A JSON-RPC error object: `code`, human-readable `message`, optional `data`."""

    code: int
    message: str
    data: Any

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = str(message)
        self.data = data

    def to_json(self) -> dict[str, Any]:
        """The error object as it appears on the wire."""
        obj: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            obj["data"] = self.data
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r}, data={self.data!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes
        return (_restore, (type(self), self.code, self.message, self.data))


class _FixedCodeError(RpcError):
    """An RpcError whose code is fixed by its class."""

    CODE: ClassVar[int]
    DEFAULT_MESSAGE: ClassVar[str]

    def __init__(self, message: str | None = None, data: Any = None) -> None:
        super().__init__(self.CODE, message if message is not None else self.DEFAULT_MESSAGE, data)


class ParseError(_FixedCodeError):
    CODE = PARSE_ERROR
    DEFAULT_MESSAGE = "parse error"


class InvalidRequest(_FixedCodeError):
    CODE = INVALID_REQUEST
    DEFAULT_MESSAGE = "invalid request"


class MethodNotFound(_FixedCodeError):
    CODE = METHOD_NOT_FOUND
    DEFAULT_MESSAGE = "method not found"


class InvalidParams(_FixedCodeError):
    CODE = INVALID_PARAMS
    DEFAULT_MESSAGE = "invalid params"


class InternalError(_FixedCodeError):
    CODE = INTERNAL_ERROR
    DEFAULT_MESSAGE = "internal error"


class ResourceNotFound(_FixedCodeError):
    CODE = RESOURCE_NOT_FOUND
    DEFAULT_MESSAGE = "resource not found"


class LimitExceeded(_FixedCodeError):
    CODE = LIMIT_EXCEEDED
    DEFAULT_MESSAGE = "limit exceeded"


class Unavailable(_FixedCodeError):
    CODE = UNAVAILABLE
    DEFAULT_MESSAGE = "service unavailable"


class ControlRefused(_FixedCodeError):
    """A devnet control request that cannot be carried out now (unknown role, role down, foreground devnet)."""

    CODE = CONTROL_REFUSED
    DEFAULT_MESSAGE = "devnet control request refused"


class ControlDisabled(_FixedCodeError):
    """A `devnet_*` control method called on a process not started as part of a devnet."""

    CODE = CONTROL_DISABLED
    DEFAULT_MESSAGE = "devnet control is disabled: this process was not started as part of a devnet"


class UnknownSnapshot(_FixedCodeError):
    """A revert to a snapshot id that does not exist (never taken, already reverted past, or lost to a reset)."""

    CODE = UNKNOWN_SNAPSHOT
    DEFAULT_MESSAGE = "unknown snapshot id"


ERROR_CLASSES: dict[int, type[_FixedCodeError]] = {
    cls.CODE: cls
    for cls in (
        ParseError,
        InvalidRequest,
        MethodNotFound,
        InvalidParams,
        InternalError,
        ResourceNotFound,
        LimitExceeded,
        Unavailable,
        ControlRefused,
        ControlDisabled,
        UnknownSnapshot,
    )
}


def rpc_code_of(exc: BaseException) -> int | None:
    """The integer `rpc_code` attribute of `exc`, or None if it has none."""
    code = getattr(exc, "rpc_code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    return None


def rpc_error_from(exc: BaseException) -> RpcError:
    """Convert any exception into the RpcError a caller should see.

    RpcErrors pass through unchanged; an exception with an integer
    `rpc_code` keeps its code and message, with its class name as `data`;
    anything else becomes a bare InternalError (no details leaked).
    """
    if isinstance(exc, RpcError):
        return exc
    code = rpc_code_of(exc)
    if code is None:
        return InternalError()
    return make_error(code, str(exc) or exc.__class__.__name__, {"error": exc.__class__.__name__})


def make_error(code: int, message: str, data: Any = None) -> RpcError:
    """The most specific RpcError class for `code` (plain RpcError if none)."""
    cls = ERROR_CLASSES.get(code)
    if cls is not None:
        return cls(message, data)
    return RpcError(code, message, data)


def error_from_json(obj: Any) -> RpcError:
    """Rebuild an RpcError from a wire error object; raises ValueError if malformed."""
    if not isinstance(obj, dict):
        raise ValueError(f"error member must be an object, got {type(obj).__name__}")
    code = obj.get("code")
    message = obj.get("message")
    if not isinstance(code, int) or isinstance(code, bool):
        raise ValueError(f"error code must be an integer, got {code!r}")
    if not isinstance(message, str):
        message = "" if message is None else str(message)
    return make_error(code, message, obj.get("data"))
