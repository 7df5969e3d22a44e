#!/usr/bin/env bash
# Set up everything bpfmaps' tests need on a fresh machine, then run them.
# Run as root: the kernel tests create real BPF maps.  Extra arguments go to pytest.
# Everything Python goes into the checkout's virtual environment .venv/ (created when
# missing; see .ci/setup-machine), never into the system interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup-machine "[test]"
exec .venv/bin/python -m pytest "$@"
