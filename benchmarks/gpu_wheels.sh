#!/usr/bin/env bash
# Download, here, the wheels the GPU machine lacks into .whl/ (git-ignored; carried with the run).
# The GPU image has torch, transformers, accelerate, safetensors, huggingface_hub, numpy, pillow,
# opencv, pytest, scikit-image, psutil and tqdm; it lacks diffusers and SQLAlchemy (and
# diffusers' importlib-metadata, 8.7: 10.x needs lazy-importer; SQLAlchemy's greenlet). diffusers and
# SQLAlchemy at this project's .venv versions, so both machines run the same code.
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
ver() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
mkdir -p .whl
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "diffusers==$(ver diffusers)" "sqlalchemy==$(ver sqlalchemy)" greenlet==3.5.6 importlib-metadata==8.7.0
ls -l .whl
