"""Class → sequence (the lectures' task S2): generate the toy sentences from ⊕/⊖ with <start>/<end>, the class
setting y^h(0) = σ(W^i x); teacher forcing in training, free-running greedy decoding at test time.

    python examples/class_to_sequence.py                          # conditioned on the class, then on class+index
    python examples/class_to_sequence.py --condition class+index --quick
"""
import sys

from tinygrad_rnn.tasks import generate

if __name__ == "__main__":
    sys.exit(generate.main())
