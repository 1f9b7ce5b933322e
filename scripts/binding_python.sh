#!/usr/bin/env bash
# Prints the Python the binding is built for: the first of python3.13, python3.12, python3
# (then pyenv's installed versions) that is 3.12 or newer (a stable-ABI module) and has
# nanobind and pytest (numpy for some tests); nothing if none.
#   bash scripts/binding_python.sh [--install]   (--install: pip-installs what is missing)
candidates=(python3.13 python3.12 python3)
for v in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
  [[ -x $v ]] && candidates+=("$v")
done
for py in "${candidates[@]}"; do
  exe=$(command -v "$py" 2>/dev/null) || continue
  "$exe" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null || continue
  if [[ ${1:-} == --install ]] && ! "$exe" -c 'import nanobind, pytest, numpy' 2>/dev/null; then
    "$exe" -m pip install -q nanobind pytest numpy >/dev/null 2>&1 || true
  fi
  "$exe" -c 'import nanobind, pytest' 2>/dev/null || continue
  "$exe" -c 'import sys; print(sys.executable)'
  exit 0
done
