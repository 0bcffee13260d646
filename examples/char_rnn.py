"""Train a character-level tanh RNN on the lectures' five sentences and write its unrolled graph.

    python examples/char_rnn.py            # about five seconds of training
    python examples/char_rnn.py --quick    # one second, for smoke tests

Every option of ``tinygrad-rnn char-rnn`` works here (``--help`` lists them).
"""
import sys

from tinygrad_rnn.tasks import char_rnn

if __name__ == "__main__":
    sys.exit(char_rnn.main())
