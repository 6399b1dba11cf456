# Shared by the scripts in scripts/: sourced, not run.

# The lanes: a virtualenv each, installed from requirements/<lane>.txt.
#   newest  .venv        pytest-homeassistant-custom-component for the newest HA it has
#   floor   .venv-floor  the same for the oldest supported HA
#   ha      .venv-ha     the newest Home Assistant release itself (demo, real-install check)
lane_venv() {
  case "$1" in
    newest) echo .venv ;;
    *) echo ".venv-$1" ;;
  esac
}

# python_ok PY: PY runs and is >= 3.14.2 (what Home Assistant 2026.3+ requires).
python_ok() {
  "$1" -c 'import sys; sys.exit(sys.version_info < (3, 14, 2))' >/dev/null 2>&1
}

# find_python314: prints an interpreter >= 3.14.2 found on PATH, under pyenv or among uv's.
find_python314() {
  local cand
  for cand in python3.14 python3 python; do
    if command -v "$cand" >/dev/null 2>&1 && python_ok "$cand"; then
      command -v "$cand"
      return 0
    fi
  done
  # pyenv's shims fail for versions that are installed but not selected, and uv keeps its
  # interpreters off PATH: look at the binaries directly.
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  local uvdir="${UV_PYTHON_INSTALL_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/uv/python}"
  for cand in $(ls -d "$root"/versions/3.1[4-9]* "$uvdir"/cpython-3.1[4-9]* 2>/dev/null | sort -rV); do
    if [ -x "$cand/bin/python3" ] && python_ok "$cand/bin/python3"; then
      echo "$cand/bin/python3"
      return 0
    fi
  done
  return 1
}

# need_python314 SCRIPT [ARG...]: returns when this machine has Python >= 3.14.2;
# otherwise runs SCRIPT again inside scripts/py314root and exits with its status.
need_python314() {
  find_python314 >/dev/null && return 0
  if [ -n "${XCB_IN_PY314ROOT:-}" ]; then
    echo "error: no Python >= 3.14.2 inside scripts/py314root's root" >&2
    exit 1
  fi
  echo "==> no Python >= 3.14.2 on this machine: running $1 in a Debian unstable root (scripts/py314root)"
  exec scripts/py314root run "$@"
}

# ensure_apt_packages PKG...: installs the Debian packages that are missing.
ensure_apt_packages() {
  local pkg missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "==> installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  mkdir -p build
  # apt's progress goes to a log; its end is shown if the install fails.
  if ! { $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >build/apt.log 2>&1; then
    tail -20 build/apt.log >&2
    return 1
  fi
}

# ensure_lane LANE: creates the lane's virtualenv (again, if its interpreter is gone or too
# old) and installs requirements/LANE.txt with uv, unless that file and what it includes are
# unchanged since the last install (recorded in the venv).
ensure_lane() {
  local lane=$1 venv
  venv=$(lane_venv "$lane")
  if [ -e "$venv" ] && ! python_ok "$venv/bin/python"; then
    echo "==> $venv has no working Python >= 3.14.2: making it again"
    rm -rf "$venv"
  fi
  if [ ! -x "$venv/bin/python" ]; then
    local py
    py=$(find_python314)
    echo "==> creating $venv ($lane lane) with $py"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip uv
  fi
  local stamp="$venv/.requirements.sha" want
  want=$(cat requirements/"$lane".txt requirements/common.txt | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "==> installing requirements/$lane.txt into $venv"
  "$venv/bin/python" -m uv pip install --quiet --python "$venv/bin/python" -r requirements/"$lane".txt
  echo "$want" >"$stamp"
}
