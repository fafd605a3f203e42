"""Run by A1111 before it parses its command line: the extension's own flags."""

from __future__ import annotations

import argparse


def preload(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--animatediff-model-dir",
        type=str,
        default=None,
        help="folder of AnimateDiff motion modules (default: the extension's model/ folder, or the one set in Settings)",
    )
