"""Sequence → class (the lectures' task S1): the sentiment ⊕/⊖ of the five toy sentences, with the lectures'
logistic cell over one-hot words (incremental gradient descent) and with learned embeddings → LSTM or GRU.

    python examples/sentiment.py                   # both variants; prints training accuracy and P(⊕), P(⊖)
    python examples/sentiment.py --quick           # fewer updates
    python examples/sentiment.py --variant embedding --cell gru
"""
import sys

from tinygrad_rnn.tasks import sentiment

if __name__ == "__main__":
    sys.exit(sentiment.main())
