#!/usr/bin/env bash
# Set up bpfmaps on a fresh machine and run the main example: a load balancer's
# control plane filling real kernel maps.  Run as root (bpf(2) needs CAP_BPF/CAP_SYS_ADMIN).
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v bpftool >/dev/null 2>&1 || [ -x /usr/sbin/bpftool ] || need_apt+=(bpftool)
[ -f /usr/include/linux/bpf.h ] || need_apt+=(linux-libc-dev)
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e .
exec python3 examples/load_balancer.py "$@"
