"""Sequence tagging: label every character of standard-library Python source as name, keyword, operator, number,
string, comment or other (from ``tokenize``), and compare a unidirectional with a bidirectional character LSTM on
held-out modules.

    python examples/tagging.py            # about a minute or two on two cores
    python examples/tagging.py --quick    # tiny sizes, a few seconds
"""
import sys

from tinygrad_rnn.tasks import tagging

if __name__ == "__main__":
    sys.exit(tagging.main())
