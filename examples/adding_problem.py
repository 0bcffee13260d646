"""Long-range dependencies: the adding problem and the copy-memory task, tanh RNN against LSTM and GRU.

    python examples/adding_problem.py                      # T = 10, 50, 100; a few minutes
    python examples/adding_problem.py --quick              # T = 10, tiny models, seconds
    python examples/adding_problem.py --task adding --lengths 100 --cell rnn,lstm

Every option of ``tinygrad-rnn long-range`` works here (``--help`` lists them).
"""
import sys

from tinygrad_rnn.tasks import long_range

if __name__ == "__main__":
    sys.exit(long_range.main())
