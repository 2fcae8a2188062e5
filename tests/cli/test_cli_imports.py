"""node/cli has no import cycle: command modules share helpers through node.cli.common only, never each other's."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "node" / "cli"


def cli_imports(path: Path) -> set[str]:
    """The node.cli modules `path` imports anywhere (top level or inside a function)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("node.cli")}
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module == "node.cli":
                found |= {f"node.cli.{alias.name}" for alias in node.names}
            elif node.module.startswith("node.cli."):
                found.add(node.module)
    return found


def test_command_modules_import_only_the_common_helpers() -> None:
    modules = {path.stem: path for path in CLI.glob("*.py") if path.stem != "__init__"}
    assert {"common", "keys", "wallet", "fraud", "venue", "devnet", "roles", "main"} <= set(modules)
    assert cli_imports(modules.pop("common")) == set()
    for name, path in modules.items():
        imported = cli_imports(path)
        assert imported <= {"node.cli.common"}, f"node/cli/{name}.py imports {sorted(imported)}"


def test_no_private_helper_crosses_modules() -> None:
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("node.cli"):
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                assert not private, f"{path.name} imports private {private} from {node.module}"
