#!/bin/sh
# Redraw the README's pictures of unrolled graphs (docs/img/graph_*.png) with the CLI; run from the repository root
# with the virtualenv's Python on PATH or as PYTHON=.venv/bin/python sh docs/graph_pictures.sh.
set -e
PYTHON=${PYTHON:-python}
out=$(mktemp -d)
$PYTHON -m tinygrad_rnn graph --cell lstm --steps 3 --hidden 4 --level op --highlight highway --formats png --out "$out/op"
$PYTHON -m tinygrad_rnn graph --cell lstm --steps 4 --layers 2 --hidden 4 --level cell --formats png --out "$out/cell"
$PYTHON -m tinygrad_rnn graph --cell lstm --steps 5 --layers 2 --hidden 4 --level cell --grads --formats png \
  --out "$out/grads"
cp "$out/op/graph_lstm_op.png" docs/img/graph_op.png
cp "$out/cell/graph_lstm_cell.png" docs/img/graph_cell.png
cp "$out/grads/graph_lstm_cell.png" docs/img/graph_grads.png
rm -r "$out"
# a 256-colour palette keeps the files a quarter of the size (Pillow comes with matplotlib)
$PYTHON -c "
from PIL import Image
for name in ('op', 'cell', 'grads'):
    path = f'docs/img/graph_{name}.png'
    Image.open(path).convert('RGB').quantize(256).save(path, optimize=True)
"
