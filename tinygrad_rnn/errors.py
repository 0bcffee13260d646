"""The errors the engine raises; each message names the op, the shapes and, inside an unrolled graph, scope and step."""


class TinygradRNNError(Exception):
    """Base class of every error this library raises on purpose."""


class ShapeError(TinygradRNNError, ValueError):
    """Shapes that an op cannot combine (matmul inner dimensions, broadcasting, reshape sizes)."""


class IndexRangeError(ShapeError, IndexError):
    """An index, class target or dim outside its range (still caught by ``except IndexError``)."""


class DTypeError(TinygradRNNError, TypeError):
    """Mixed dtypes in one op, or a gradient asked of a non-floating tensor."""


class DeviceError(TinygradRNNError, RuntimeError):
    """An unknown device, a device whose library or hardware is missing, or tensors of two devices in one op."""


class GraphError(TinygradRNNError, RuntimeError):
    """Misuse of the graph: backward over a released graph, backward of a non-scalar without a gradient."""


class AnomalyError(TinygradRNNError, FloatingPointError):
    """Raised under ``detect_anomaly()`` at the first op whose forward or backward produced NaN or Inf."""


class ArgumentError(TinygradRNNError, ValueError):
    """An argument whose value the function cannot take: a size below 1, a probability outside [0, 1], NaN, an
    unknown option (still caught by ``except ValueError``)."""


class ArgumentTypeError(TinygradRNNError, TypeError):
    """An argument of the wrong kind: a tuple where a tensor goes, a tensor where an int dim goes, a string of digits
    as lengths (still caught by ``except TypeError``)."""


class MissingKeyError(TinygradRNNError, KeyError):
    """A key or name that is not there: a state dict's missing or unexpected keys, a tensor not in a graph (still
    caught by ``except KeyError``; printed as its message, not as a quoted key)."""

    def __str__(self) -> str:
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class StateDictError(MissingKeyError, ShapeError):
    """A state dict that does not fit a module: every missing key, unexpected key and shape mismatch in one message
    (caught by ``except KeyError`` and ``except ValueError`` alike); nothing was loaded."""


class DataFileError(TinygradRNNError, ValueError):
    """A file this library wrote and reads back (a checkpoint, a metrics log) that is truncated, corrupted, of
    another kind or missing a part; the message names the file and what is wrong with it."""


class CheckpointError(DataFileError):
    """A checkpoint that cannot be used: a ``.npz`` and ``.json`` not written together, a truncated, empty or
    corrupted file, broken JSON, the JSON of another model or of something else; the message names the file."""
