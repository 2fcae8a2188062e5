# Shared by scripts/test and scripts/devnet: create .venv and install the project into it.
# Re-installs when pyproject.toml changed since the last install.
ensure_venv() {
  local extras="${1:-}"
  local python="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($python --version)" >&2
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-${extras:-base}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "installing the project into .venv (first run takes about a minute)" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip
    if [ -n "$extras" ]; then
      .venv/bin/python -m pip install --quiet -e ".[$extras]"
    else
      .venv/bin/python -m pip install --quiet -e .
    fi
    touch "$stamp"
  fi
}
