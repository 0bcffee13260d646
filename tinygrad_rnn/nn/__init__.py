"""Layers: Module, Parameter, and the building blocks that recurrent models are made of."""
from . import functional, init, utils
from .layers import Dropout, Embedding, Linear, ReLU, Sigmoid, Tanh
from .module import Module, ModuleList, Parameter, Sequential

__all__ = ["Dropout", "Embedding", "Linear", "Module", "ModuleList", "Parameter", "ReLU", "Sequential", "Sigmoid",
           "Tanh", "functional", "init", "utils"]
