"""The differentiable operations, each a forward/backward pair in one class, and the functions users call."""
from .elementwise import (abs, add, cast, compare, div, exp, log, maximum, minimum, mul, neg, pow, relu, sigmoid,
                          sqrt, sub, tanh, where)
from .matmul import linear, matmul
from .nn import cross_entropy, dropout, embedding, log_softmax, mse_loss, softmax
from .random import rand, randn
from .reduce import argmax, max, mean, sum
from .shape import cat, chunk, concat, getitem, permute, reshape, split, stack, transpose, unbind

__all__ = ["abs", "add", "argmax", "cast", "cat", "chunk", "compare", "concat", "cross_entropy", "div", "dropout",
           "embedding", "exp", "getitem", "linear", "log", "log_softmax", "matmul", "max", "maximum", "mean",
           "minimum", "mse_loss", "mul", "neg", "permute", "pow", "rand", "randn", "relu", "reshape", "sigmoid",
           "softmax", "split", "sqrt", "stack", "sub", "sum", "tanh", "transpose", "unbind", "where"]
