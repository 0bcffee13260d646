"""Every bad call to the public API raises a ``TinygradRNNError`` whose message names the function and the argument.

One table: each row is a call that must fail and the words its message must contain (the function, the argument,
the shape or value at fault). A raw ``AttributeError``, NumPy's broadcast text or "math domain error" fails the row;
so does a call that is silently accepted. The built-in class a Python user would catch (``ValueError``,
``TypeError``, ``IndexError``) is kept by each error class, which the hierarchy test checks.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import decode, nn, optim
from tinygrad_rnn.data import Vocab, bucket_batches, mask_from_lengths, pad
from tinygrad_rnn.nn import init
from tinygrad_rnn.utils.data import DataLoader


def x23():
    return tr.zeros(2, 3)


def lstm_call(*args, **kwargs):
    return nn.LSTM(3, 4)(*args, **kwargs)


def toy_model():
    tr.manual_seed(0)
    return nn.Seq2Seq(6, 6, embed_size=4, hidden_size=4, pad_index=0, sos_index=1, eos_index=2)


def sgd_step(lr):
    w = tr.tensor([1.0], requires_grad=True)
    return optim.SGD([w], lr=lr)


def grads():
    w = tr.tensor([3.0, 4.0], requires_grad=True)
    w.grad = w.data.copy()
    return [w]


CASES = [
    # -- engine: tensors and their methods --------------------------------------------------------------------------
    ("item of a non-scalar", lambda: x23().item(), ["item", "(2, 3)"]),
    ("len of a 0-d tensor", lambda: len(tr.tensor(1.0)), ["len", "0-d"]),
    ("bool of a matrix", lambda: bool(x23()), ["truth value", "(2, 3)"]),
    ("tensor of a dict", lambda: tr.tensor({"a": 1}), ["tensor", "dict"]),
    ("tensor of ragged lists", lambda: tr.tensor([[1.0, 2.0], [3.0]]), ["tensor"]),
    ("tensor with an unknown dtype", lambda: tr.tensor([1.0], dtype="float13"), ["float13"]),
    ("tensor on an unknown device", lambda: tr.tensor([1.0], device="tpu"), ["tpu"]),
    ("zeros with a negative size", lambda: tr.zeros(-1, 3), ["zeros", "-1"]),
    ("ones with a float size", lambda: tr.ones(2.5), ["ones", "2.5"]),
    ("randn with a negative size", lambda: tr.randn(2, -3), ["randn", "-3"]),
    ("add a string", lambda: x23() + "a", ["add", "str"]),
    ("add a tuple", lambda: x23() + (1, 2), ["add", "tuple"]),
    ("broadcast mismatch", lambda: x23() + tr.zeros(4), ["add", "(2, 3)", "(4,)"]),
    ("matmul mismatch", lambda: x23() @ tr.zeros(4, 2), ["matmul", "(2, 3)", "(4, 2)"]),
    ("matmul with a list", lambda: tr.matmul(x23(), [[1.0]]), ["matmul", "list"]),
    ("pow of a tensor exponent", lambda: tr.pow(x23(), "2"), ["pow", "exponent"]),
    ("sum over a bad dim", lambda: x23().sum(dim=2), ["sum", "dim 2"]),
    ("sum over a float dim", lambda: x23().sum(dim=0.5), ["sum", "dim", "0.5"]),
    ("mean over a string dim", lambda: x23().mean(dim="0"), ["mean", "dim"]),
    ("max over a bad dim", lambda: x23().max(dim=-3), ["max", "dim -3"]),
    ("max of an empty tensor", lambda: tr.zeros(0).max(), ["max", "empty", "(0,)"]),
    ("argmax of an empty tensor", lambda: tr.zeros(0).argmax(), ["argmax", "empty"]),
    ("min over a dim of an empty tensor", lambda: tr.zeros(0, 2).min(0), ["min", "empty", "(0, 2)"]),
    ("max with keepdim but no dim", lambda: tr.zeros(2, 3).max(keepdim=True), ["max", "keepdim", "(2, 3)"]),
    ("softmax over a bad dim", lambda: tr.softmax(x23(), dim=5), ["softmax", "dim 5"]),
    ("reshape to a wrong size", lambda: x23().reshape(4, 2), ["reshape", "(2, 3)", "(4, 2)"]),
    ("reshape with a string", lambda: x23().reshape("6"), ["reshape"]),
    ("permute not a permutation", lambda: x23().permute(0, 0), ["permute", "(0, 0)"]),
    ("transpose bad dim", lambda: x23().transpose(0, 4), ["transpose", "dim 4"]),
    ("getitem out of range", lambda: x23()[5], ["getitem", "5", "(2, 3)"]),
    ("getitem too many indices", lambda: x23()[0, 0, 0], ["getitem", "(2, 3)"]),
    ("getitem with a float", lambda: x23()[1.5], ["getitem", "float"]),
    ("getitem with a string", lambda: x23()["a"], ["getitem", "str"]),
    ("getitem with a float tensor", lambda: x23()[tr.tensor([0.0])], ["getitem", "float32"]),
    ("concat of nothing", lambda: tr.concat([]), ["concat", "tensors"]),
    ("concat of a non-tensor", lambda: tr.concat([x23(), np.zeros((2, 3))]), ["concat", "ndarray"]),
    ("concat of a bare tensor", lambda: tr.concat(x23()), ["concat", "tensors"]),
    ("concat shape mismatch", lambda: tr.concat([x23(), tr.zeros(2, 4)]), ["concat", "(2, 3)", "(2, 4)"]),
    ("stack of nothing", lambda: tr.stack([]), ["stack", "tensors"]),
    ("stack shape mismatch", lambda: tr.stack([x23(), tr.zeros(2, 4)]), ["stack", "(2, 3)", "(2, 4)"]),
    ("split size 0", lambda: x23().split(0), ["split", "split_size", "0"]),
    ("split sizes wrong", lambda: x23().split([1, 2]), ["split", "[1, 2]"]),
    ("split with a float", lambda: x23().split(1.5), ["split", "1.5"]),
    ("split sections negative", lambda: x23().split([3, -1]), ["split", "[3, -1]"]),
    ("chunk 0", lambda: x23().chunk(0), ["chunk", "chunks", "0"]),
    ("chunk with a float", lambda: x23().chunk(1.5), ["chunk", "chunks", "1.5"]),
    ("unbind bad dim", lambda: x23().unbind(2), ["unbind", "dim 2"]),
    ("where with a float condition", lambda: tr.where(x23(), x23(), x23()), ["where", "condition", "float32"]),
    ("max with a tensor dim", lambda: tr.max(x23(), tr.zeros(2, 4)), ["max", "(2, 3)", "(2, 4)"]),
    ("max with a bool keepdim tensor", lambda: x23().max(0, tr.zeros(2)), ["max", "keepdim"]),
    ("sum with a tensor dim", lambda: tr.sum(x23(), tr.zeros(2)), ["sum", "dim", "Tensor"]),
    ("cross_entropy target shape", lambda: tr.cross_entropy(x23(), tr.tensor([0, 1, 2])), ["cross_entropy",
                                                                                          "(2, 3)", "(3,)"]),
    ("cross_entropy float target", lambda: tr.cross_entropy(x23(), tr.tensor([0.0, 1.0])), ["cross_entropy",
                                                                                           "target"]),
    ("cross_entropy target out of range", lambda: tr.cross_entropy(x23(), tr.tensor([0, 7])), ["cross_entropy",
                                                                                              "7"]),
    ("cross_entropy reduction", lambda: tr.cross_entropy(x23(), tr.tensor([0, 1]), reduction="avg"),
     ["cross_entropy", "reduction", "avg"]),
    ("mse_loss shape", lambda: tr.mse_loss(x23(), tr.zeros(3, 2)), ["mse_loss", "(2, 3)", "(3, 2)"]),
    ("mse_loss reduction", lambda: tr.mse_loss(x23(), x23(), reduction="avg"), ["mse_loss", "reduction", "avg"]),
    ("dropout p > 1", lambda: tr.dropout(x23(), 1.5), ["dropout", "p", "1.5"]),
    ("dropout p nan", lambda: tr.dropout(x23(), float("nan")), ["dropout", "p", "nan"]),
    ("embedding out of range", lambda: tr.embedding(tr.tensor([5]), x23()), ["embedding", "5"]),
    ("embedding float indices", lambda: tr.embedding(tr.tensor([0.0]), x23()), ["embedding", "float32"]),
    ("linear weight mismatch", lambda: tr.linear(x23(), tr.zeros(4, 2)), ["linear", "(2, 3)", "(4, 2)"]),
    ("cast to unknown dtype", lambda: tr.cast(x23(), "float13"), ["cast", "float13"]),
    ("to an unknown target", lambda: x23().to("tpu"), ["tpu"]),
    ("backward of a non-scalar", lambda: tr.zeros(2, requires_grad=True).tanh().backward(), ["backward", "(2,)"]),
    ("backward with a wrong grad shape", lambda: tr.zeros(2, requires_grad=True).tanh().backward(tr.zeros(3)),
     ["backward", "(3,)", "(2,)"]),
    ("requires_grad on ints", lambda: tr.tensor([1], requires_grad=True), ["requires_grad", "int64"]),
    ("register_hook of a non-callable", lambda: tr.zeros(2, requires_grad=True).register_hook(3),
     ["register_hook", "int"]),
    ("step with a float", lambda: tr.step(1.5).__enter__(), ["step", "1.5"]),
    ("scope with a slash", lambda: tr.scope("a/b"), ["scope", "a/b"]),
    ("set_default_dtype int", lambda: tr.set_default_dtype("int32"), ["set_default_dtype", "int32"]),
    ("gradcheck of a non-tensor", lambda: tr.gradcheck(lambda x: x, [1.0]), ["gradcheck"]),
    # -- layers: sizes and options --------------------------------------------------------------------------------
    ("LSTM hidden 0", lambda: nn.LSTM(3, 0), ["LSTM", "hidden_size", "0"]),
    ("LSTM input -1", lambda: nn.LSTM(-1, 4), ["LSTM", "input_size", "-1"]),
    ("GRU hidden 2.5", lambda: nn.GRU(3, 2.5), ["GRU", "hidden_size", "2.5"]),
    ("RNN num_layers 0", lambda: nn.RNN(3, 4, num_layers=0), ["RNN", "num_layers", "0"]),
    ("RNN dropout 1.5", lambda: nn.RNN(3, 4, num_layers=2, dropout=1.5), ["RNN", "dropout", "1.5"]),
    ("RNN dropout nan", lambda: nn.RNN(3, 4, num_layers=2, dropout=float("nan")), ["RNN", "dropout", "nan"]),
    ("RNN nonlinearity", lambda: nn.RNN(3, 4, nonlinearity="gelu"), ["nonlinearity", "gelu"]),
    ("RNN unknown option", lambda: nn.RNN(3, 4, peephole=True), ["RNN", "peephole"]),
    ("LSTMCell hidden 0", lambda: nn.LSTMCell(3, 0), ["LSTMCell", "hidden_size", "0"]),
    ("GRUCell input 0", lambda: nn.GRUCell(0, 3), ["GRUCell", "input_size", "0"]),
    ("RNNCell hidden -2", lambda: nn.RNNCell(3, -2), ["RNNCell", "hidden_size", "-2"]),
    ("Linear out 0", lambda: nn.Linear(3, 0), ["Linear", "out_features", "0"]),
    ("Linear in -1", lambda: nn.Linear(-1, 3), ["Linear", "in_features", "-1"]),
    ("Linear in a string", lambda: nn.Linear("3", 2), ["Linear", "in_features", "'3'"]),
    ("Embedding 0 rows", lambda: nn.Embedding(0, 4), ["Embedding", "num_embeddings", "0"]),
    ("Embedding dim -4", lambda: nn.Embedding(5, -4), ["Embedding", "embedding_dim", "-4"]),
    ("Embedding padding_idx", lambda: nn.Embedding(5, 4, padding_idx=5), ["Embedding", "padding_idx", "5"]),
    ("Dropout p -0.1", lambda: nn.Dropout(-0.1), ["Dropout", "p", "-0.1"]),
    ("Seq2Seq hidden 0", lambda: nn.Seq2Seq(6, 6, hidden_size=0), ["Seq2Seq", "hidden_size", "0"]),
    ("Seq2Seq vocab 0", lambda: nn.Seq2Seq(0, 6), ["Seq2Seq", "src_vocab_size", "0"]),
    ("Seq2Seq num_layers 0", lambda: nn.Seq2Seq(6, 6, num_layers=0), ["Seq2Seq", "num_layers", "0"]),
    ("Seq2Seq dropout 2", lambda: nn.Seq2Seq(6, 6, dropout=2.0), ["Seq2Seq", "dropout", "2.0"]),
    ("Seq2Seq cell", lambda: nn.Seq2Seq(6, 6, cell="tcn"), ["Seq2Seq", "cell", "tcn"]),
    ("Seq2Seq attention", lambda: nn.Seq2Seq(6, 6, attention="luong"), ["attention", "luong"]),
    ("Seq2Seq sos outside vocab", lambda: nn.Seq2Seq(6, 6, sos_index=9), ["Seq2Seq", "sos_index", "9"]),
    ("Encoder embed 0", lambda: nn.Encoder(6, 0, 4), ["Encoder", "embed_size", "0"]),
    ("Decoder hidden 0", lambda: nn.Decoder(6, 4, 0), ["Decoder", "hidden_size", "0"]),
    ("AdditiveAttention size 0", lambda: nn.AdditiveAttention(0, 4), ["AdditiveAttention", "query_size", "0"]),
    ("GeneralAttention size -1", lambda: nn.GeneralAttention(4, -1), ["GeneralAttention", "key_size", "-1"]),
    ("make_attention kind", lambda: nn.make_attention("luong", 4, 4), ["make_attention", "luong"]),
    ("LeakyRNNCell hidden 0", lambda: nn.LeakyRNNCell(3, 0), ["LeakyRNNCell", "hidden_size", "0"]),
    ("EchoStateNetwork size 0", lambda: nn.EchoStateNetwork(3, 0, 2), ["EchoStateNetwork", "reservoir_size"]),
    # -- layers: calls ----------------------------------------------------------------------------------------------
    ("LSTM input of a tuple", lambda: lstm_call((tr.zeros(5, 2, 3),)), ["LSTM", "input", "tuple"]),
    ("LSTM input of an array", lambda: lstm_call(np.zeros((5, 2, 3))), ["LSTM", "input", "ndarray"]),
    ("LSTM input feature mismatch", lambda: lstm_call(tr.zeros(5, 2, 4)), ["LSTM", "(5, 2, 4)", "input_size=3"]),
    ("LSTM zero-length sequence", lambda: lstm_call(tr.zeros(0, 2, 3)), ["LSTM", "(0, 2, 3)", "length"]),
    ("LSTM hx a single tensor", lambda: lstm_call(tr.zeros(5, 2, 3), tr.zeros(1, 2, 4)), ["LSTM", "hx", "(h_0, c_0)"]),
    ("LSTM hx of three", lambda: lstm_call(tr.zeros(5, 2, 3), (tr.zeros(1, 2, 4),) * 3), ["LSTM", "hx", "3"]),
    ("LSTM h0 wrong shape", lambda: lstm_call(tr.zeros(5, 2, 3), (tr.zeros(1, 2, 5), tr.zeros(1, 2, 4))),
     ["LSTM", "(1, 2, 5)", "(1, 2, 4)"]),
    ("GRU hx a tuple", lambda: nn.GRU(3, 4)(tr.zeros(5, 2, 3), (tr.zeros(1, 2, 4),)), ["GRU", "hx", "tuple"]),
    ("LSTM fractional lengths", lambda: lstm_call(tr.zeros(5, 2, 3), lengths=[2.5, 3]), ["LSTM", "lengths", "2.5"]),
    ("LSTM string lengths", lambda: lstm_call(tr.zeros(5, 2, 3), lengths="23"), ["LSTM", "lengths", "'23'"]),
    ("LSTM negative length", lambda: lstm_call(tr.zeros(5, 2, 3), lengths=[-1, 3]), ["LSTM", "lengths", "-1"]),
    ("LSTM zero length", lambda: lstm_call(tr.zeros(5, 2, 3), lengths=[0, 3]), ["LSTM", "lengths", "0"]),
    ("LSTM too long", lambda: lstm_call(tr.zeros(5, 2, 3), lengths=[6, 3]), ["LSTM", "lengths", "6"]),
    ("LSTM lengths count", lambda: lstm_call(tr.zeros(5, 2, 3), lengths=[3]), ["LSTM", "lengths", "2"]),
    ("LSTM float lengths tensor", lambda: lstm_call(tr.zeros(5, 2, 3), lengths=tr.tensor([2.5, 3.0])),
     ["LSTM", "lengths", "2.5"]),
    ("LSTMCell input mismatch", lambda: nn.LSTMCell(3, 4)(tr.zeros(2, 5)), ["LSTMCell", "(2, 5)", "input_size=3"]),
    ("LSTMCell hx one tensor", lambda: nn.LSTMCell(3, 4)(tr.zeros(2, 3), tr.zeros(2, 4)), ["LSTMCell", "hx"]),
    ("RNNCell hx wrong", lambda: nn.RNNCell(3, 4)(tr.zeros(2, 3), tr.zeros(2, 5)), ["RNNCell", "(2, 5)", "(2, 4)"]),
    ("RNNCell input list", lambda: nn.RNNCell(3, 4)([[0.0, 0.0, 0.0]]), ["RNNCell", "input", "list"]),
    ("Linear input mismatch", lambda: nn.Linear(3, 2)(tr.zeros(2, 4)), ["Linear", "(2, 4)"]),
    ("Embedding index out of range", lambda: nn.Embedding(5, 4)(tr.tensor([7])), ["embedding", "7"]),
    ("attention query mismatch", lambda: nn.DotAttention()(tr.zeros(2, 3), tr.zeros(2, 4, 5)), ["DotAttention",
                                                                                              "(2, 3)"]),
    ("load_state_dict missing keys", lambda: nn.Linear(3, 2).load_state_dict({"weight": np.zeros((2, 3))}),
     ["load_state_dict", "bias"]),
    ("load_state_dict wrong shape", lambda: nn.Linear(3, 2).load_state_dict(
        {"weight": np.zeros((2, 4)), "bias": np.zeros(2)}), ["load_state_dict", "weight", "(2, 4)"]),
    ("load_state_dict of a list", lambda: nn.Linear(3, 2).load_state_dict([1, 2]), ["load_state_dict", "list"]),
    ("load_state_dict, every problem at once", lambda: nn.Linear(3, 2).load_state_dict(
        {"weight": np.zeros((2, 4)), "extra": np.zeros(1)}), ["load_state_dict", "missing keys ['bias']",
                                                             "unexpected keys ['extra']", "weight: (2, 4)"]),
    ("DataLoader worker processes", lambda: DataLoader([1, 2], num_workers=2), ["DataLoader", "num_workers=2"]),
    ("DataLoader unknown keyword", lambda: DataLoader([1, 2], shuffel=True), ["DataLoader", "shuffel"]),
    ("Module.to unknown", lambda: nn.Linear(3, 2).to("tpu"), ["tpu"]),
    ("Seq2Seq zero-length source", lambda: toy_model()(tr.zeros(2, 0, dtype="int64"), [1, 1],
                                                       tr.tensor([[1, 3], [1, 3]])), ["Seq2Seq", "(2, 0)"]),
    ("Seq2Seq teacher_forcing", lambda: toy_model()(tr.tensor([[3, 4]]), [2], tr.tensor([[1, 3]]),
                                                    teacher_forcing=2.0), ["teacher_forcing", "2.0"]),
    # -- init -------------------------------------------------------------------------------------------------------
    ("xavier of a vector", lambda: init.xavier_uniform_(tr.zeros(3)), ["xavier_uniform_", "(3,)"]),
    ("orthogonal of a vector", lambda: init.orthogonal_(tr.zeros(3)), ["orthogonal_", "(3,)"]),
    ("uniform_ of an array", lambda: init.uniform_(np.zeros(3)), ["uniform_", "ndarray"]),
    ("uniform_ a > b", lambda: init.uniform_(tr.zeros(3), 1.0, 0.0), ["uniform_", "1.0", "0.0"]),
    ("normal_ negative std", lambda: init.normal_(tr.zeros(3), std=-1.0), ["normal_", "std", "-1.0"]),
    ("identity_ of a vector", lambda: init.identity_(tr.zeros(3)), ["identity_", "(3,)"]),
    ("set_spectral_radius_ negative", lambda: init.set_spectral_radius_(tr.randn(3, 3), -1.0),
     ["set_spectral_radius_", "-1.0"]),
    ("recurrent_init_ scheme", lambda: init.recurrent_init_(nn.RNN(3, 4), "magic"), ["recurrent_init_", "magic"]),
    ("set_forget_bias_ of a GRU", lambda: init.set_forget_bias_(nn.GRU(3, 4)), ["set_forget_bias_", "GRU"]),
    # -- optim ------------------------------------------------------------------------------------------------------
    ("SGD lr nan", lambda: sgd_step(float("nan")), ["SGD", "lr", "nan"]),
    ("SGD lr -1", lambda: sgd_step(-1.0), ["SGD", "lr", "-1.0"]),
    ("SGD lr a string", lambda: sgd_step("0.1"), ["SGD", "lr", "'0.1'"]),
    ("SGD of nothing", lambda: optim.SGD([], lr=0.1), ["SGD", "param"]),
    ("SGD of a tensor", lambda: optim.SGD(tr.zeros(2, requires_grad=True), lr=0.1), ["SGD", "params"]),
    ("SGD of an int", lambda: optim.SGD([3], lr=0.1), ["SGD", "int"]),
    ("Adam betas", lambda: optim.Adam([tr.zeros(1, requires_grad=True)], betas=(1.5, 0.9)), ["Adam", "betas",
                                                                                            "1.5"]),
    ("Adam betas one", lambda: optim.Adam([tr.zeros(1, requires_grad=True)], betas=(0.9,)), ["Adam", "betas"]),
    ("Adam eps nan", lambda: optim.Adam([tr.zeros(1, requires_grad=True)], eps=float("nan")), ["Adam", "eps"]),
    ("clip_grad_norm_ negative", lambda: optim.clip_grad_norm_(grads(), -1.0), ["clip_grad_norm_", "max_norm",
                                                                                "-1.0"]),
    ("clip_grad_norm_ nan", lambda: optim.clip_grad_norm_(grads(), float("nan")), ["clip_grad_norm_", "max_norm"]),
    ("clip_grad_norm_ norm_type 0", lambda: optim.clip_grad_norm_(grads(), 1.0, norm_type=0),
     ["clip_grad_norm_", "norm_type", "0"]),
    ("grad_norm norm_type -1", lambda: optim.grad_norm(grads(), norm_type=-1), ["grad_norm", "norm_type", "-1"]),
    ("clip_grad_value_ negative", lambda: optim.clip_grad_value_(grads(), -1.0), ["clip_grad_value_",
                                                                                  "clip_value", "-1.0"]),
    ("optimizer load_state_dict of a list", lambda: sgd_step(0.1).load_state_dict([1]), ["load_state_dict",
                                                                                          "list"]),
    ("optimizer load_state_dict missing", lambda: sgd_step(0.1).load_state_dict({}), ["load_state_dict"]),
    # -- data -------------------------------------------------------------------------------------------------------
    ("Vocab of a non-string", lambda: Vocab(["a", 3]), ["Vocab", "3"]),
    ("Vocab decode out of range", lambda: Vocab(["a"]).decode([99]), ["Vocab.decode", "99"]),
    ("pad of non-sequences", lambda: pad([1, 2]), ["pad", "int"]),
    ("pad of floats", lambda: pad([[1.5, 2.0]]), ["pad", "1.5"]),
    ("mask_from_lengths negative", lambda: mask_from_lengths([-1, 2]), ["mask_from_lengths", "-1"]),
    ("mask_from_lengths fractional", lambda: mask_from_lengths([2.5]), ["mask_from_lengths", "2.5"]),
    ("mask_from_lengths T too small", lambda: mask_from_lengths([3], T=2), ["mask_from_lengths", "T", "3"]),
    ("bucket_batches size 0", lambda: bucket_batches([(["a"], ["b"])], 0, src_vocab=Vocab(["a"]),
                                                     tgt_vocab=Vocab(["b"])), ["bucket_batches", "batch_size", "0"]),
    # -- decode -----------------------------------------------------------------------------------------------------
    ("greedy max_len 0", lambda: decode.greedy(toy_model(), tr.tensor([[3, 4]]), max_len=0), ["greedy", "max_len"]),
    ("greedy src list", lambda: decode.greedy(toy_model(), [[3, 4]]), ["greedy", "src", "list"]),
    ("greedy lengths fractional", lambda: decode.greedy(toy_model(), tr.tensor([[3, 4]]), src_lengths=[1.5]),
     ["greedy", "src_lengths", "1.5"]),
    ("sample temperature 0", lambda: decode.sample(toy_model(), tr.tensor([[3, 4]]), temperature=0),
     ["sample", "temperature"]),
    ("sample temperature nan", lambda: decode.sample(toy_model(), tr.tensor([[3, 4]]), temperature=float("nan")),
     ["sample", "temperature", "nan"]),
    ("sample top_k 0", lambda: decode.sample(toy_model(), tr.tensor([[3, 4]]), top_k=0), ["sample", "top_k"]),
    ("beam_search width 0", lambda: decode.beam_search(toy_model(), tr.tensor([[3, 4]]), beam_width=0),
     ["beam_search", "beam_width"]),
    ("beam_search nbest > width", lambda: decode.beam_search(toy_model(), tr.tensor([[3, 4]]), beam_width=2,
                                                             nbest=3), ["beam_search", "nbest"]),
    ("beam_search length_penalty nan", lambda: decode.beam_search(toy_model(), tr.tensor([[3, 4]]),
                                                                  length_penalty=float("nan")),
     ["beam_search", "length_penalty", "nan"]),
    ("TableModel not square", lambda: decode.TableModel(np.ones((2, 3)) / 3), ["TableModel", "(2, 3)"]),
]


@pytest.mark.parametrize("call, needles", [pytest.param(c, n, id=i) for i, c, n in CASES])
def test_bad_call_raises_a_library_error_naming_the_argument(call, needles):
    with pytest.raises(Exception) as info:
        call()
    error = info.value
    assert isinstance(error, tr.TinygradRNNError), f"raw {type(error).__name__}: {error}"
    text = str(error)
    missing = [n for n in needles if n not in text]
    assert not missing, f"{type(error).__name__} {text!r} does not name {missing}"


def test_error_classes_keep_the_builtin_ones():
    assert issubclass(tr.ArgumentError, ValueError) and issubclass(tr.ArgumentError, tr.TinygradRNNError)
    assert issubclass(tr.ArgumentTypeError, TypeError) and issubclass(tr.ArgumentTypeError, tr.TinygradRNNError)
    assert issubclass(tr.MissingKeyError, KeyError) and issubclass(tr.MissingKeyError, tr.TinygradRNNError)
    with pytest.raises(ValueError):
        nn.LSTM(3, 0)
    with pytest.raises(TypeError):
        x23() + "a"
    with pytest.raises(KeyError, match="missing keys"):
        nn.Linear(3, 2).load_state_dict({})


def test_max_of_two_tensors_is_the_elementwise_maximum():
    """``torch.max(a, b)`` with a tensor as the second argument is the elementwise maximum, as in PyTorch."""
    a, b = tr.tensor([1.0, 5.0], requires_grad=True), tr.tensor([3.0, 2.0], requires_grad=True)
    out = tr.max(a, b)
    assert out.tolist() == [3.0, 5.0]
    out.sum().backward()
    assert a.grad.tolist() == [0.0, 1.0] and b.grad.tolist() == [1.0, 0.0]
    assert a.max(b).tolist() == [3.0, 5.0]


def test_good_calls_still_work():
    """The checks refuse only what is wrong: edge values that are right pass."""
    nn.LSTM(3, 4, num_layers=2, dropout=1.0)
    nn.Dropout(0.0), nn.Dropout(1.0)
    out, _ = nn.LSTM(3, 4)(tr.zeros(5, 2, 3), lengths=np.array([5, 1]))
    assert out.shape == (5, 2, 4)
    out, _ = nn.GRU(3, 4)(tr.zeros(5, 2, 3), lengths=tr.tensor([2, 5]))
    assert out.shape == (5, 2, 4)
    assert x23().split(2, dim=1)[1].shape == (2, 1) and len(x23().chunk(5)) == 2
    assert tr.concat((x23(), x23())).shape == (4, 3)
    assert tr.zeros(0, 3).shape == (0, 3)
    optim.clip_grad_norm_(grads(), 0.0)  # PyTorch allows 0: every gradient becomes zero
    optim.clip_grad_norm_(grads(), math.inf)
    assert mask_from_lengths(np.array([2, 0]), 3).tolist() == [[True, True, False], [False, False, False]]
