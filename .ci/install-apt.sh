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
# Versions with "bpo12" come from bookworm-backports. Its entry reuses the mirror of the machine's own bookworm
# entry (deb822 or one-line format), so no host is named here and a local mirror keeps working.
backports=/etc/apt/sources.list.d/edgekit-bookworm-backports.list
if [[ " ${missing[*]}" == *bpo12* ]] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  uri=$(awk '/^URIs:/{u=$2} /^Suites:/ && / bookworm( |$)/{print u; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [[ -n "$uri" ]] || uri=$(awk '$1=="deb" && $3=="bookworm"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [[ -n "$uri" ]] || { echo "no bookworm apt source found to derive bookworm-backports from" >&2; exit 1; }
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm-backports main" | $sudo tee "$backports" >/dev/null
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
