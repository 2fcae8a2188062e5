"""The settler role: `python -m l1.settler --config FILE` or `rollup settler --config FILE` (node.lifecycle)."""

from __future__ import annotations

from l1.settler.config import load_settler_config
from l1.settler.journal import JournalError
from l1.settler.process import Settler, SettlerError
from node.lifecycle import Role

ROLE = Role(
    "settler",
    "run the settler: posts batches and output roots to L1",
    load_settler_config,
    Settler,
    "l1.settler",
    startup_errors=(SettlerError, JournalError),
)
