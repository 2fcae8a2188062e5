"""Build hook: compile the pure core to C extensions with mypyc, or fall back to the interpreted source.

Everything else about the package is in pyproject.toml; this file only adds
the extension modules. The modules to compile are listed once, in
pyproject.toml under [tool.rollup.mypyc] (tests/static/test_compiled_core.py
reads the same list). They are compiled from the same .py files, which stay
in place: an install that cannot compile is the interpreted package.

- ROLLUP_NO_MYPYC=1 installs the interpreted package on purpose (debugging,
  profiling at Python level).
- No C compiler, or mypyc rejecting a module: a warning on stderr, then the
  interpreted package. The install itself does not fail.

mypyc runs only for a build command (pip also runs setup.py for the build
requirements and the metadata).
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
NO_MYPYC_ENV = "ROLLUP_NO_MYPYC"
# The setup.py commands that build (pip's PEP 517 calls: editable_wheel, bdist_wheel).
BUILD_COMMANDS = ("build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install")


def warn(message: str) -> None:
    print(f"WARNING (rollup-devnet build): {message}", file=sys.stderr, flush=True)


def compiled_module_paths() -> list[str]:
    """The source files of the [tool.rollup.mypyc] modules, relative to this directory."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    modules: list[str] = config["tool"]["rollup"]["mypyc"]["modules"]
    return [module.replace(".", "/") + ".py" for module in modules]


def mypyc_extensions() -> list[Extension]:
    """mypyc's extension modules, or none (the interpreted package) when disabled or mypyc cannot translate."""
    if os.environ.get(NO_MYPYC_ENV, "") not in ("", "0"):
        warn(f"{NO_MYPYC_ENV} is set: installing the interpreted source, nothing compiled")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError as exc:
        warn(f"mypyc is not available ({exc}); installing the interpreted source")
        return []
    # mypy reads [tool.mypy] from pyproject.toml; its unused-section notes would count as errors here. pip
    # builds in an isolated environment without the runtime dependencies (coincurve, pycryptodome, ...):
    # their types are unknown there (Any), so the `type: ignore`s the full check needs are unused there.
    options = ["--no-warn-unused-configs", "--ignore-missing-imports", "--no-warn-unused-ignores"]
    try:
        return list(mypycify(options + compiled_module_paths(), opt_level="3", debug_level="0"))
    except BaseException as exc:  # noqa: BLE001 - mypyc exits via SystemExit on a type error
        warn(
            f"mypyc could not translate the pure core ({type(exc).__name__}: {exc}); installing the interpreted source"
        )
        return []


def remove_stale_builds() -> None:
    """Delete compiled modules an earlier editable install left next to their source (Python prefers them).

    Without this, an interpreted re-install (ROLLUP_NO_MYPYC=1, a failed compile)
    or a shorter module list would keep importing the old .so files.
    """
    stale = [so for so in (ROOT / "node").rglob("*.so") if so.with_name(so.name.split(".")[0] + ".py").exists()]
    for path in stale + list(ROOT.glob("*__mypyc.*.so")):
        path.unlink(missing_ok=True)


class OptionalMypycBuildExt(build_ext):
    """build_ext that turns a compile failure into a warning and the interpreted package.

    mypyc's modules share one C library: a partial build would leave modules
    that cannot import, so every output of this build is removed on failure.
    """

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - a compiler failure of any kind means "use the interpreted source"
            for output in self.get_outputs():
                Path(output).unlink(missing_ok=True)
            self.extensions = []
            warn(f"compiling the pure core failed ({type(exc).__name__}: {exc}); installing the interpreted source")


def is_build() -> bool:
    """Whether this run of setup.py builds (not pip's earlier metadata runs: mypyc would run for nothing)."""
    return any(command in sys.argv[1:] for command in BUILD_COMMANDS)


if is_build():
    remove_stale_builds()
setup(ext_modules=mypyc_extensions() if is_build() else [], cmdclass={"build_ext": OptionalMypycBuildExt})
