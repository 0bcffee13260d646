"""The structure the code keeps: modules speak to each other through public names, viz only draws, and no
function grows past 60 lines. Each rule is a scan of the source tree's syntax, and each scanner is first shown
a snippet that breaks its rule, so that a scanner which stopped seeing anything would fail here too."""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("tinygrad_rnn", "viz", "benchmarks", "examples")

# the engine's private tensor fields and constructor: only the engine, autograd and the ops' machinery use them
ENGINE_OWNERS = ("tinygrad_rnn/engine.py", "tinygrad_rnn/autograd.py", "tinygrad_rnn/ops/")
PRIVATE_TENSOR_FIELDS = {"_fn", "_backend", "_idx", "_grad_shares", "_hooks", "_retains_grad", "_detached_from",
                         "_bounds", "_history", "_version"}
PUBLIC_TENSOR_SLOTS = {"backend", "grad_fn", "output_index"}  # read everywhere, assigned only by the engine
# the graph view's own tables: only tinygrad_rnn/graph.py (the Graph class) reads them
PRIVATE_GRAPH_FIELDS = {"_successors", "_predecessors", "_by_id", "_tensor_ids"}

# What viz must not do: it reads traced graphs and draws, it runs no computation of its own.
COMPUTING_CALLS = {"backward", "retain_grad", "retain_grads", "zero_grad", "requires_grad_"}
COMPUTING_MODULES = {"tinygrad_rnn.nn", "tinygrad_rnn.optim", "tinygrad_rnn.train", "tinygrad_rnn.ops",
                     "tinygrad_rnn.engine", "tinygrad_rnn.autograd"}

MAX_FUNCTION_LINES = 60


def _sources(*packages: str):
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"), str(path))


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _stored(tree: ast.AST) -> set:
    """The Attribute nodes that are assigned to (``x.a = …``, ``x.a, y = …``, ``x.a += …``)."""
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                targets.update(id(t) for t in ast.walk(target) if isinstance(t, ast.Attribute))
    return targets


def private_reach(name: str, tree: ast.AST) -> list:
    """``line: what`` for each use of the engine's or the graph view's private names in module ``name``."""
    found = []
    engine_owner = name.startswith(ENGINE_OWNERS)
    stored = _stored(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if not engine_owner and node.attr in PRIVATE_TENSOR_FIELDS:
                found.append(f"{node.lineno}: reads or writes .{node.attr}")
            elif not engine_owner and node.attr in PUBLIC_TENSOR_SLOTS and id(node) in stored and not _is_self(
                    node.value):  # an object's own attribute of that name (Node.output_index) is its own business
                found.append(f"{node.lineno}: assigns .{node.attr}")
            elif node.attr in PRIVATE_GRAPH_FIELDS and name != "tinygrad_rnn/graph.py":
                found.append(f"{node.lineno}: reads the graph's .{node.attr}")
            elif not engine_owner and node.attr == "_wrap" and not _is_self(node.value):
                found.append(f"{node.lineno}: uses the engine's _wrap")
        elif isinstance(node, ast.ImportFrom) and not engine_owner:
            found += [f"{node.lineno}: imports {a.name}" for a in node.names if a.name == "_wrap"]
    return found


def computing(tree: ast.AST) -> list:
    """``line: what`` for each thing in a module that computes rather than reads a graph."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in COMPUTING_CALLS:
            found.append(f"{node.lineno}: calls .{node.func.attr}()")
        elif isinstance(node, ast.Attribute) and node.attr == "nn" and isinstance(node.value, ast.Name):
            found.append(f"{node.lineno}: uses {node.value.id}.nn (builds layers)")
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            if module in COMPUTING_MODULES or any(module.startswith(m + ".") for m in COMPUTING_MODULES):
                found.append(f"{node.lineno}: imports from {module}")
            elif module == "tinygrad_rnn":
                found += [f"{node.lineno}: imports tinygrad_rnn.{a.name}" for a in node.names
                          if f"tinygrad_rnn.{a.name}" in COMPUTING_MODULES]
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: imports {a.name}" for a in node.names if a.name in COMPUTING_MODULES]
    return found


def long_functions(name: str, tree: ast.AST, limit: int = MAX_FUNCTION_LINES) -> dict:
    """``module::Class.function`` -> its length in lines, for every function (nested ones too) over ``limit``."""
    found = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualified = prefix + child.name
                length = child.end_lineno - child.lineno + 1
                if length > limit:
                    found[f"{name}::{qualified}"] = length
                visit(child, qualified + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


# -- the scanners see what they look for ---------------------------------------------------------------------------
def test_the_scanners_find_a_breach_in_a_snippet():
    reach = ast.parse("from tinygrad_rnn.engine import _wrap\n"
                      "def f(t, g):\n"
                      "    t.backend = None\n"
                      "    return t._fn, t._backend.xp, g._successors[0], t._grad_shares\n")
    assert sorted(line.split(":")[0] for line in private_reach("tinygrad_rnn/nn/x.py", reach)) == ["1", "3"] + ["4"] * 4
    assert private_reach("tinygrad_rnn/ops/x.py", reach) == ["4: reads the graph's ._successors"]
    assert private_reach("tinygrad_rnn/graph.py", ast.parse("g._successors[0]")) == []
    assert private_reach("viz/x.py", ast.parse("self.backend = 1\nnode.grad_fn = None")) == ["2: assigns .grad_fn"]
    drawing = ast.parse("import tinygrad_rnn as tr\nfrom tinygrad_rnn import nn\n"
                        "def f(loss):\n    loss.backward()\n    return tr.nn.LSTM(2, 3)\n")
    assert sorted(computing(drawing)) == ["2: imports tinygrad_rnn.nn", "4: calls .backward()",
                                          "5: uses tr.nn (builds layers)"]
    long = ast.parse("class A:\n    def f(self):\n" + "        x = 1\n" * 60)
    assert long_functions("m.py", long) == {"m.py::A.f": 61}


# -- the rules -----------------------------------------------------------------------------------------------------
def test_no_module_outside_the_engine_reaches_into_its_private_fields():
    breaches = [f"{name}:{where}" for name, tree in _sources(*PACKAGES) for where in private_reach(name, tree)]
    assert not breaches, ("use the public surface (Tensor.backend, .grad_fn, .output_index, engine.wrap, "
                          "to_in_place, Graph.successor_ids/predecessor_ids) instead:\n" + "\n".join(breaches))


def test_viz_reads_graphs_and_computes_nothing():
    breaches = [f"{name}:{where}" for name, tree in _sources("viz") for where in computing(tree)]
    assert not breaches, ("viz draws what tinygrad_rnn computed (tinygrad_rnn.analysis makes the graphs it draws):\n"
                          + "\n".join(breaches))


def test_no_function_is_over_60_lines():
    long = {}
    for name, tree in _sources("tinygrad_rnn", "viz", "benchmarks", "examples"):
        long.update(long_functions(name, tree))
    assert not long, "functions over 60 lines: " + ", ".join(f"{f} ({n})" for f, n in sorted(long.items()))
