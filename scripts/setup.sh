#!/usr/bin/env bash
# Sets up .venv/ at the repository root with langmill (its Rust core built by maturin) and
# everything the tests need. Safe to run again: it only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# Editable install: maturin compiles the Rust crate (offline, std only) and links it into langmill/.
.venv/bin/python -m pip install --quiet --editable ".[dev,gen-cpu,train,arena]"

# PyPI's torchvision/torchaudio/torchcodec builds break `import transformers` next to the CPU torch
# wheel (see the Development section of README.md); whatever pulled them in, remove them.
for pkg in torchvision torchaudio torchcodec; do
  if .venv/bin/python -m pip show --quiet "$pkg" >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall --quiet --yes "$pkg"
  fi
done
echo "langmill is set up in .venv/ ($(.venv/bin/langmill --version))"
