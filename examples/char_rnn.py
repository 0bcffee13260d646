"""Train a character-level tanh RNN on the lectures' five sentences and write its unrolled graph.

    python examples/char_rnn.py            # about five seconds of training
    python examples/char_rnn.py --quick    # one second, for smoke tests
"""
import argparse

from tinygrad_rnn.tasks import char_rnn

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="train for one second")
    parser.add_argument("--out", default="out")
    args = parser.parse_args()
    char_rnn.run(seconds=1.0 if args.quick else 5.0, out_dir=args.out)
