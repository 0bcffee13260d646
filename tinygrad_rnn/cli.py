"""The command line: ``tinygrad-rnn <command>`` or ``python -m tinygrad_rnn <command>``."""
from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    from . import demo

    demo.run(seconds=args.seconds, out_dir=args.out, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="tinygrad-rnn", description="Recurrent networks unrolled in the graph.")
    parser.add_argument("--version", action="version", version=f"tinygrad_rnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train a small char-RNN and write its unrolled graph under out/")
    demo.add_argument("--seconds", type=float, default=5.0, help="training time budget (default 5)")
    demo.add_argument("--out", default="out", help="output folder (default out/)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
