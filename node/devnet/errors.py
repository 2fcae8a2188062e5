"""Typed errors of the devnet tooling."""

from __future__ import annotations


class DevnetError(Exception):
    """A devnet operation failed; the message is meant for the user."""


class PortInUseError(DevnetError):
    """A port the devnet needs is already taken."""


class DevnetRunningError(DevnetError):
    """The devnet directory's processes are still running."""


class UnknownRoleError(DevnetError):
    """The named role is not one of the devnet's processes."""


class SupervisedError(DevnetError):
    """A foreground `devnet up` supervises the devnet: it stops everything when one process dies."""


class NoDevnetError(DevnetError):
    """There is no devnet.json in the directory."""


class StartupError(DevnetError):
    """A process did not become ready; `log_tail` holds the end of its log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class InputError(ValueError):
    """A user-supplied value (amount, address, block tag...) is invalid."""


class ControlRefusedError(DevnetError):
    """A control request the devnet cannot carry out now (JSON-RPC ControlRefused, -32003)."""


class UnknownSnapshotError(DevnetError):
    """No snapshot with that id (never taken, invalidated by an earlier revert, or from before a reset): -32009."""


class DumpFileError(DevnetError):
    """A dump file that is malformed, foreign or does not fit this machine."""
