#!/usr/bin/env python3
"""Check or fill the state-transition vectors (tests/stf/vectors/*.json) from their readable form.

    scripts/stf_vectors.py check [FILE ...]          report every file that is not filled and consistent (exit 1)
    scripts/stf_vectors.py fill [--accept] [FILE ...]  write what the readable form gives

`fill` writes each transaction's raw bytes and hash, the roots, receipts, steps, errors and post-state
computed by the state transition (tests/stf/vector_fill.py). A value the file already states and the
replay contradicts is a conflict: reported, left alone, exit 1; `--accept` overwrites it (a deliberate
behaviour change: review `git diff` before committing). Error codes are always taken from the error
classes. Without FILE, every file under tests/stf/vectors/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.stf.vector_fill import fill_document  # noqa: E402
from tests.stf.vector_format import dump_json, iter_vector_files, read_vector_file  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("check", "fill"))
    parser.add_argument("files", nargs="*", type=Path, help="vector files (default: all of tests/stf/vectors)")
    parser.add_argument("--accept", action="store_true", help="fill: overwrite stated values the replay contradicts")
    args = parser.parse_intermixed_args(argv)
    files = args.files or iter_vector_files()
    failed = False
    for path in files:
        doc = read_vector_file(path)
        filled = fill_document(doc, accept=args.accept and args.command == "fill")
        for conflict in filled.conflicts:
            print(f"{path.name}: CONFLICT {conflict}")
        if args.command == "check":
            for change in filled.changes:
                print(f"{path.name}: not filled: {change}")
            stale = dump_json(filled.doc) != path.read_text()
            if stale and not filled.changes:
                print(f"{path.name}: not in canonical JSON layout (run fill)")
            failed |= bool(filled.conflicts) or stale
        else:
            for change in filled.changes:
                print(f"{path.name}: {change}")
            if dump_json(filled.doc) != path.read_text():
                path.write_text(dump_json(filled.doc))
                print(f"{path.name}: written")
            failed |= bool(filled.conflicts)
        print(f"{path.name}: {len(doc['vectors'])} vectors, {'conflicts' if filled.conflicts else 'ok'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
