"""The differentiable operations, each a forward/backward pair in one class, and the functions users call."""
from .elementwise import (abs, add, cast, clamp, clip, compare, div, exp, floor_divide, log, maximum, minimum, mul, neg,
                          pow, relu, sigmoid, sqrt, sub, tanh, where)
from .index import gather, masked_fill, setitem, topk
from .matmul import bmm, linear, matmul
from .nn import cross_entropy, dropout, embedding, log_softmax, mse_loss, nll_loss, softmax
from .random import rand, randn
from .reduce import ValuesIndices, amax, amin, argmax, argmin, max, mean, min, sum
from .shape import (cat, chunk, clone, concat, expand, flatten, getitem, permute, repeat, reshape, split, squeeze,
                    stack, transpose, unbind, unsqueeze)

__all__ = ["ValuesIndices", "abs", "add", "amax", "amin", "argmax", "argmin", "bmm", "cast", "cat", "chunk", "clamp",
           "clip", "clone", "compare", "concat", "cross_entropy", "div", "dropout", "embedding", "exp", "expand",
           "flatten", "floor_divide", "gather", "getitem", "linear", "log", "log_softmax", "masked_fill", "matmul",
           "max", "maximum", "mean", "min", "minimum", "mse_loss", "mul", "neg", "nll_loss", "permute", "pow", "rand",
           "randn", "relu", "repeat", "reshape", "setitem", "sigmoid", "softmax", "split", "sqrt", "squeeze", "stack",
           "sub", "sum", "tanh", "topk", "transpose", "unbind", "unsqueeze", "where"]
from .tensor_methods import install_tensor_methods

install_tensor_methods()
