"""The command line every serving benchmark takes: ``--json``, ``--data``, and where its data
dir comes from (``--skip-setup-data-dir`` or ``--prepare-data-dir``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from serving.setup import DEFAULT_DATA


def positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not > 0")
        return value

    return parse


def benchmark_parser(doc: str) -> argparse.ArgumentParser:
    """A parser with the shared options, described by the first paragraph of ``doc``."""
    parser = argparse.ArgumentParser(description=" ".join(doc.split("\n\n")[0].split()))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Online Retail CSV")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--skip-setup-data-dir",
        type=Path,
        metavar="DIR",
        help="reuse a data dir a serving benchmark prepared (tenant bench, trained); it is kept",
    )
    where.add_argument(
        "--prepare-data-dir",
        type=Path,
        metavar="DIR",
        help="set up into DIR (new or empty) instead of a temporary dir, and keep it",
    )
    return parser
