#!/usr/bin/env bash
# Set up everything bpfmaps' tests need on a fresh machine, then run them.
# Run as root: the kernel tests create real BPF maps.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup-machine "[test]"
exec python3 -m pytest "$@"
