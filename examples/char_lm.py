"""Train a character-level LSTM language model on the Python standard library's source and sample from it.

    python examples/char_lm.py              # a couple of minutes: held-out bits per character, samples
    python examples/char_lm.py --quick      # seconds, for smoke tests
    python examples/char_lm.py --cell gru --hidden 128 --steps 300

Every option of ``tinygrad-rnn charlm`` works here (``--help`` lists them).
"""
import sys

from tinygrad_rnn.tasks import charlm

if __name__ == "__main__":
    sys.exit(charlm.main())
