#!/bin/bash
# Schema check of the Kubernetes manifests (offline, with the schemas bundled in the
# kubernetes-validate package from PyPI): bash deploy/kubernetes/check.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${KV_VENV:-${TMPDIR:-/tmp}/kubernetes-validate-venv}
[ -x "$venv/bin/kubernetes-validate" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q kubernetes-validate; }
"$venv/bin/kubernetes-validate" --strict -k "${K8S_VERSION:-1.30.0}" "$here"/*.yaml
