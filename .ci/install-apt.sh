#!/usr/bin/env bash
# Installs the pinned Debian packages of .ci/apt-packages.txt that are not installed at that version yet.
set -euo pipefail
cd "$(dirname "$0")"
missing=()
while read -r spec; do
  [[ -z "$spec" || "$spec" == \#* ]] && continue
  name=${spec%%=*}; version=${spec#*=}
  have=$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)
  [[ "$have" == "$version" ]] || missing+=("$spec")
done < apt-packages.txt
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
