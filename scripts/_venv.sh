# Shared by scripts/test and scripts/devnet: create .venv and install the project into it.
# Re-installs when pyproject.toml or setup.py changed since the last install, when a module
# that the install compiles (pyproject.toml [tool.rollup.mypyc]) was edited since (the
# compiled copy would hide the edit), or when ROLLUP_NO_MYPYC changed.
# ROLLUP_NO_MYPYC=1 installs the pure core interpreted, nothing compiled (setup.py).

# The .py files of the compiled modules, one a line.
compiled_sources() {
  .venv/bin/python - <<'PY' 2>/dev/null
import tomllib
for module in tomllib.load(open("pyproject.toml", "rb"))["tool"]["rollup"]["mypyc"]["modules"]:
    print(module.replace(".", "/") + ".py")
PY
}

# Succeeds when the install must be (re)done.
install_is_stale() {
  local stamp="$1"
  [ -f "$stamp" ] || return 0
  [ pyproject.toml -nt "$stamp" ] && return 0
  [ setup.py -nt "$stamp" ] && return 0
  [ "$(cat "$stamp")" = "ROLLUP_NO_MYPYC=${ROLLUP_NO_MYPYC:-}" ] || return 0
  local source
  while read -r source; do
    [ -n "$source" ] && [ "$source" -nt "$stamp" ] && return 0
  done < <(compiled_sources)
  return 1
}

# A warning on stderr when the install is interpreted without being asked to (no C compiler, mypyc failed).
report_compiled() {
  local first
  first="$(compiled_sources || true)"
  first="${first%%$'\n'*}"
  [ -n "$first" ] || return 0
  local module="${first%.py}"
  module="${module//\//.}"
  local file
  file="$(.venv/bin/python -c "import $module as m; print(m.__file__)" 2>/dev/null || true)"
  case "$file" in
    *.so) ;;
    *)
      if [ -z "${ROLLUP_NO_MYPYC:-}" ] || [ "${ROLLUP_NO_MYPYC}" = "0" ]; then
        echo "WARNING: the pure core is not compiled ($module is $file): no C compiler or mypyc failed," \
          "running the interpreted source (slower, same results); see the pip output of" \
          ".venv/bin/python -m pip install -v -e ." >&2
      fi
      ;;
  esac
}

ensure_venv() {
  local extras="${1:-}"
  local python="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($python --version)" >&2
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-${extras:-base}"
  if install_is_stale "$stamp"; then
    echo "installing the project into .venv (compiles the pure core with mypyc: about 2-4 minutes)" >&2
    .venv/bin/python -m pip install --quiet --upgrade pip
    if [ -n "$extras" ]; then
      .venv/bin/python -m pip install --quiet -e ".[$extras]"
    else
      .venv/bin/python -m pip install --quiet -e .
    fi
    report_compiled
    echo "ROLLUP_NO_MYPYC=${ROLLUP_NO_MYPYC:-}" > "$stamp"
  fi
}
