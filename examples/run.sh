#!/usr/bin/env bash
# Set up bpfmaps on a fresh machine and run the main example: a load balancer's
# control plane filling real kernel maps.  Run as root (bpf(2) needs CAP_BPF/CAP_SYS_ADMIN).
# Everything Python goes into the checkout's virtual environment .venv/ (created when
# missing; see .ci/setup-machine), never into the system interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup-machine
exec .venv/bin/python examples/load_balancer.py "$@"
