"""The pure core compiled by mypyc at install time (setup.py): which modules this install compiled, and that
the compiled and the interpreted code compute the same states.

The modules are listed once, in pyproject.toml [tool.rollup.mypyc]. An install compiles all of them or none
(no C compiler, mypyc failing, ROLLUP_NO_MYPYC=1); the compiled copies sit next to their .py files and
Python prefers them, so an edited .py hides behind its older compiled copy until the next install
(scripts/_venv.sh re-installs when that happens; a direct `.venv/bin/pytest` does not, and the staleness test
below says so).

The agreement test runs the same digest twice in fresh interpreters: once as installed, once with every
`node` module loaded from its .py source (a meta path finder placed before the installed ones). The digest
is every state-transition vector replayed (tests/stf/vectors: transfers, deposits, venue orders,
liquidations, end-of-block chunks, errors) and a RocksDB chain sealing one block of signed transfers with
the versioned Merkle tree, with each loaded `node` module's file.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPILED_MODULES: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["rollup"]["mypyc"]["modules"]

# Run in a fresh interpreter before anything of `node` is imported: load each node module from its .py file.
SOURCE_ONLY_PRELUDE = """
import sys
from importlib.util import spec_from_file_location
from pathlib import Path

class SourceOnlyFinder:
    def find_spec(self, name, path=None, target=None):
        if name != "node" and not name.startswith("node."):
            return None
        base = Path.cwd().joinpath(*name.split("."))
        if (base / "__init__.py").is_file():
            return spec_from_file_location(name, base / "__init__.py", submodule_search_locations=[str(base)])
        if base.with_suffix(".py").is_file():
            return spec_from_file_location(name, base.with_suffix(".py"))
        return None

sys.meta_path.insert(0, SourceOnlyFinder())
"""
RUN_DIGEST = (
    "import json; from tests.static.test_compiled_core import compute_digest; print(json.dumps(compute_digest()))"
)


def is_compiled(module_name: str) -> bool:
    file = importlib.import_module(module_name).__file__ or ""
    return not file.endswith(".py")


def compute_vector_sections() -> list[Any]:
    from tests.stf.vector_format import iter_vectors, load_vector
    from tests.stf.vector_replay import compute_sections, replay_stf

    return [compute_sections(replay_stf(load_vector(doc))) for _, doc in iter_vectors()]


def compute_chain_roots() -> list[str]:
    """Genesis of 64 accounts, then one block of 200 signed transfers between them, through RocksDB."""
    from node.block import ZERO_HASH
    from node.chain import Chain
    from node.crypto import Address, PrivateKey
    from node.stf import ChainConfig
    from node.stf.execute import recover_transaction
    from node.store.chain import ChainStore
    from node.tx import Transfer, sign_tx

    rng = random.Random(12)
    keys = [PrivateKey(bytes([0] * 31 + [i + 1])) for i in range(64)]
    addresses = [k.address for k in keys]
    config = ChainConfig(901, fee_recipient=Address(b"\xfe" * 20), min_fee=10**12)
    nonces = dict.fromkeys(range(len(keys)), 0)
    raws = []
    for _ in range(200):
        sender = rng.randrange(len(keys))
        transfer = Transfer(addresses[rng.randrange(len(keys))], 1 + rng.randrange(10**6))
        raws.append(sign_tx(keys[sender], 901, nonces[sender], 10**12, transfer).encode())
        nonces[sender] += 1
    with tempfile.TemporaryDirectory(prefix="compiled-core-") as tmp:
        store = ChainStore(Path(tmp) / "chain")
        try:
            chain = Chain(store, config)
            chain.init_genesis(dict.fromkeys(addresses, 10**24))
            prepared = chain.prepare_block([recover_transaction(raw) for raw in raws], 1000, (0, ZERO_HASH))
            sealed = chain.commit(prepared)
            assert len(prepared.build.included) == len(raws)
            roots = [prepared.update.root_hash.hex(), sealed.block.header.state_root.hex()]
        finally:
            store.close()
    return roots


def compute_digest() -> dict[str, Any]:
    modules = [importlib.import_module(name) for name in COMPILED_MODULES]
    sections = json.dumps(compute_vector_sections(), sort_keys=True)
    return {
        "vectors_sha256": hashlib.sha256(sections.encode()).hexdigest(),
        "chain_roots": compute_chain_roots(),
        "files": {module.__name__: module.__file__ for module in modules},
    }


def run_digest(source_only: bool) -> dict[str, Any]:
    code = (SOURCE_ONLY_PRELUDE if source_only else "") + RUN_DIGEST
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_install_compiled_every_listed_module_or_none() -> None:
    compiled = {name: is_compiled(name) for name in COMPILED_MODULES}
    print(f"compiled by mypyc in this install: {sum(compiled.values())} of {len(compiled)} pure-core modules")
    assert len(set(compiled.values())) == 1, f"a partial build: {compiled}"


def test_an_install_by_the_scripts_with_a_c_compiler_is_compiled() -> None:
    """The fallback to the interpreted source is for machines without a compiler (or ROLLUP_NO_MYPYC=1), not a
    silent outcome: an isolated build once lacked the runtime dependencies mypy needed, and every install fell
    back without anyone asking for it. Checked for the .venv scripts/_venv.sh installs (its stamp records
    ROLLUP_NO_MYPYC as the install saw it)."""
    venv = ROOT / ".venv"
    stamps = sorted(venv.glob(".installed-*"))
    if Path(sys.prefix).resolve() != venv.resolve() or not stamps:
        pytest.skip("not the .venv scripts/_venv.sh installs")
    asked = {line.partition("=")[2].strip() for stamp in stamps for line in stamp.read_text().splitlines()}
    if asked - {"", "0"}:
        pytest.skip(f"installed with ROLLUP_NO_MYPYC={sorted(asked - {'', '0'})[0]}")
    if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on this machine: the interpreted source is the expected install")
    interpreted = [name for name in COMPILED_MODULES if not is_compiled(name)]
    assert not interpreted, (
        f"a C compiler is here but {len(interpreted)} pure-core modules run interpreted (e.g. {interpreted[0]}): "
        "see `.venv/bin/python -m pip install -v -e .` for why mypyc fell back"
    )


def test_no_compiled_module_is_older_than_its_source() -> None:
    """A .py edited after the install runs as its old compiled copy: re-install (scripts/test does)."""
    stale = []
    for name in COMPILED_MODULES:
        file = Path(importlib.import_module(name).__file__ or "")
        source = ROOT.joinpath(*name.split(".")).with_suffix(".py")
        if file.suffix == ".so" and file.stat().st_mtime < source.stat().st_mtime:
            stale.append(name)
    assert not stale, f"edited since the install, their compiled copies are stale: {stale}; re-run scripts/test"


def test_compiled_and_interpreted_core_compute_the_same_states() -> None:
    installed = run_digest(source_only=False)
    interpreted = run_digest(source_only=True)
    assert all(file.endswith(".py") for file in interpreted["files"].values()), interpreted["files"]
    compiled = [name for name, file in installed["files"].items() if not file.endswith(".py")]
    print(f"compared: {len(compiled)} compiled modules against their source")
    assert installed["vectors_sha256"] == interpreted["vectors_sha256"]
    assert installed["chain_roots"] == interpreted["chain_roots"]
    assert installed["chain_roots"][0] == installed["chain_roots"][1]
