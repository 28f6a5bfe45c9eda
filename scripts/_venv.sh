# Sourced by scripts/demo.sh and scripts/test.sh: create or reuse .venv/ at the repository
# root and install gpo-vae (editable) through constraints.txt, so torch stays the CPU
# 2.13.0 build unless the user installed another torch first.
# Usage: ensure_venv "[extra1,extra2]"   (empty string: no extras)

ensure_venv() {
    local extras="$1"
    local py="${PYTHON:-python3}"
    if ! command -v "$py" >/dev/null 2>&1; then
        echo "error: $py not found; install Python >= 3.10 or set PYTHON=/path/to/python3" >&2
        return 1
    fi
    if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
        echo "error: gpo-vae needs Python >= 3.10 ($py is $("$py" -V 2>&1)); set PYTHON to a newer one" >&2
        return 1
    fi
    if [ ! -x .venv/bin/python ]; then
        echo "[gpo-vae] creating .venv/ with $("$py" -V 2>&1)"
        "$py" -m venv .venv
    fi
    # Reinstall only when the dependency files or the extras change (the install is
    # editable, so code changes need none).
    # One stamp per set of extras, so the demo and the tests do not reinstall in turn.
    local stamp=".venv/.gpo-vae-install${extras}"
    local want
    want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "[gpo-vae] installing gpo-vae${extras} into .venv/ (first time: a few minutes)"
        .venv/bin/python -m pip install --quiet --disable-pip-version-check \
            -c constraints.txt -e ".${extras}"
        echo "$want" > "$stamp"
    fi
}
