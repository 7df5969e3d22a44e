#!/usr/bin/env bash
# Set up everything bpfmaps' tests need on a fresh machine, then run them.
# Run as root: the kernel tests create real BPF maps.  Extra arguments go to pytest.
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
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
