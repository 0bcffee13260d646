"""Layers: Module, Parameter, and the building blocks that recurrent models are made of."""
from . import functional, init, utils
from .attention import AdditiveAttention, DotAttention, GeneralAttention, ScaledDotAttention, make_attention
from .cells import GRUCell, LSTMCell, RNNCell
from .layers import Dropout, Embedding, Linear, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .long_memory import EchoStateNetwork, LeakyRNN, LeakyRNNCell
from .module import Module, ModuleList, Parameter, Sequential
from .recurrent import GRU, LSTM, RNN
from .seq2seq import Decoder, Encoded, Encoder, Seq2Seq, reverse_padded

__all__ = ["AdditiveAttention", "CrossEntropyLoss", "LogSoftmax", "MSELoss", "NLLLoss", "Softmax",
           "Decoder", "DotAttention", "Encoded", "Encoder", "GeneralAttention",
           "ScaledDotAttention", "Seq2Seq", "make_attention", "reverse_padded",
           "Dropout", "EchoStateNetwork", "Embedding", "GRU", "GRUCell", "LSTM", "LSTMCell", "LeakyRNN",
           "LeakyRNNCell", "Linear", "Module", "ModuleList", "Parameter", "RNN", "RNNCell", "ReLU", "Sequential",
           "Sigmoid", "Tanh", "functional", "init", "utils"]
