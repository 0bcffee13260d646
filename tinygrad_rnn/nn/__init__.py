"""Layers: Module, Parameter, and the building blocks that recurrent models are made of."""
from . import functional, init, utils
from .cells import GRUCell, LSTMCell, RNNCell
from .layers import Dropout, Embedding, Linear, ReLU, Sigmoid, Tanh
from .long_memory import EchoStateNetwork, LeakyRNN, LeakyRNNCell
from .module import Module, ModuleList, Parameter, Sequential
from .recurrent import GRU, LSTM, RNN

__all__ = ["Dropout", "EchoStateNetwork", "Embedding", "GRU", "GRUCell", "LSTM", "LSTMCell", "LeakyRNN",
           "LeakyRNNCell", "Linear", "Module", "ModuleList", "Parameter", "RNN", "RNNCell", "ReLU", "Sequential",
           "Sigmoid", "Tanh", "functional", "init", "utils"]
