#!/usr/bin/env bash
# Set up bpfmaps on a fresh machine and run the main example: a load balancer's
# control plane filling real kernel maps.  Run as root (bpf(2) needs CAP_BPF/CAP_SYS_ADMIN).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup-machine
exec python3 examples/load_balancer.py "$@"
