"""The command line: ``tinygrad-rnn <command>`` or ``python -m tinygrad_rnn <command>``."""
from __future__ import annotations

import importlib
import sys

from .errors import ArgumentError, ArgumentTypeError, DeviceError
from .tasks.options import Parser, nonnegative_int, positive_float, positive_int

USER_ERRORS = (ArgumentError, ArgumentTypeError, DeviceError)

# the lectures' tasks: each module has main(argv) with its own options (--quick, --seed, ...)
TASKS = {
    "sentiment": ("tinygrad_rnn.tasks.sentiment", "sequence → class: sentiment of the lectures' five sentences"),
    "generate": ("tinygrad_rnn.tasks.generate", "class → sequence: generate the sentences from ⊕/⊖"),
    "tagging": ("tinygrad_rnn.tasks.tagging", "label each character of Python source with its token type"),
    "charlm": ("tinygrad_rnn.tasks.charlm", "character-level language model on the standard library's source"),
    "long-range": ("tinygrad_rnn.tasks.long_range", "adding problem and copy memory: RNN vs LSTM vs GRU"),
    "gradflow": ("tinygrad_rnn.tasks.gradflow", "gradient against lag for RNN, LSTM and GRU, with a plot"),
    "graph": ("tinygrad_rnn.tasks.graph", "draw an unrolled RNN/LSTM/GRU graph: op, cell or layer level, ‖grad‖"),
    "studies": ("tinygrad_rnn.tasks.studies", "gradient-flow studies: inits, gating, linear forgetting, clipping"),
    "char-rnn": ("tinygrad_rnn.tasks.char_rnn", "char-level tanh RNN on the lectures' sentences, its unrolled graph"),
    "report": ("tinygrad_rnn.tasks.report", "every picture of a G2P checkpoint and the studies in out/report.html"),
    "g2p": ("tinygrad_rnn.tasks.g2p", "grapheme-to-phoneme seq2seq on the CMU dictionary: train, eval, pronounce"),
}


def _demo(args) -> int:
    from . import demo

    demo.run(updates=args.updates, seconds=args.seconds, out_dir=args.out, seed=args.seed)
    return 0


def build_parser() -> Parser:
    from . import __version__

    parser = Parser(prog="tinygrad-rnn", description="Recurrent networks unrolled in the graph.")
    parser.add_argument("--version", action="version", version=f"tinygrad_rnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    from .demo import DEMO_UPDATES

    demo = commands.add_parser("demo", help="train a small G2P seq2seq model (about a minute) and write the pictures "
                                             "and out/report.html")
    work = demo.add_mutually_exclusive_group()
    work.add_argument("--updates", type=positive_int, default=DEMO_UPDATES, help="train for this many updates: the "
                      "same numbers on every run and machine (default %(default)s, about a minute on 2 cores)")
    work.add_argument("--seconds", type=positive_float, default=None, help="train for a time budget instead of "
                      "--updates (as many updates as the machine's speed allows)")
    demo.add_argument("--out", default="out", help="output folder (default out/)")
    demo.add_argument("--seed", type=nonnegative_int, default=0)
    demo.set_defaults(run=_demo)
    for name, (_, summary) in TASKS.items():  # listed for --help; main() hands their options to the task itself
        commands.add_parser(name, help=summary + " (see: tinygrad-rnn " + name + " --help)", add_help=False)
    return parser


def main(argv=None) -> int:
    """Run one command; a user error (a bad option, a bad value, a device this machine lacks) is one line on
    stderr and exit status 2, never a traceback."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        parser.error(f"unrecognized option {argv[0]}: the options of the commands go after the command "
                     f"(tinygrad-rnn COMMAND {argv[0]})")
    try:
        if argv and argv[0] in TASKS:  # each task parses its own options (--quick, --seed, --help ...)
            return importlib.import_module(TASKS[argv[0]][0]).main(argv[1:])
        args = parser.parse_args(argv)
        return args.run(args)
    except USER_ERRORS as error:  # what the library says of the user's input, said once, on one line
        command = f"tinygrad-rnn {argv[0]}" if argv and argv[0] in TASKS else "tinygrad-rnn"
        print(f"{command}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
