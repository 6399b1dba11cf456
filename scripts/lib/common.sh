# Shared by the scripts in scripts/: sourced, not run.

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
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# pip_install_once STAMP FILE...: pip-installs the requirement files into .venv unless
# they are unchanged since the last install (recorded in .venv/STAMP).
pip_install_once() {
  local stamp=".venv/$1"
  shift
  local want
  want=$(cat "$@" | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  local file
  for file in "$@"; do
    echo "==> installing $file"
    .venv/bin/python -m pip install -q -r "$file"
  done
  echo "$want" >"$stamp"
}
