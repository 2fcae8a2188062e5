"""`rollup outputs`' attestation sources: bad URLs are refused, unreachable nodes are skipped."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from node.cli.common import CliError
from node.cli.fraud import _attestation_sources, _attestations_for
from tests.support.p2p_peer import free_port


def args(tmp_path: Path, urls: list[str] | None) -> argparse.Namespace:
    return argparse.Namespace(attestations_rpc=urls, dir=tmp_path, l1_rpc=None)


def test_a_non_http_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="not an http"):
        _attestation_sources(args(tmp_path, ["ftp://example/"]))


def test_sources_default_to_the_devnet_executors(tmp_path: Path) -> None:
    assert _attestation_sources(args(tmp_path, None)) == []  # no devnet here
    (tmp_path / "devnet.json").write_text('{"executors": [{"rpc": "http://127.0.0.1:1/"}, {"name": "x"}]}')
    assert _attestation_sources(args(tmp_path, None)) == ["http://127.0.0.1:1/"]
    assert _attestation_sources(args(tmp_path, ["http://a/"])) == ["http://a/"]


def test_unreachable_nodes_give_no_view() -> None:
    assert _attestations_for([f"http://127.0.0.1:{free_port()}/"], 10, b"\x01" * 32) is None
