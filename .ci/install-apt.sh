#!/usr/bin/env bash
# Installs the pinned Debian packages of .ci/apt-packages.txt that are not installed at that version yet, and
# downloads the pinned arm64 runtime packages of .ci/apt-arm64-runtime.txt that are not downloaded yet.
set -euo pipefail
cd "$(dirname "$0")"
missing=()
while read -r spec; do
  [[ -z "$spec" || "$spec" == \#* ]] && continue
  name=${spec%%=*}; version=${spec#*=}
  have=$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)
  [[ "$have" == "$version" ]] || missing+=("$spec")
done < apt-packages.txt
# The arm64 runtime packages of apt-arm64-runtime.txt are downloaded (not installed) into $runtime_dir, where the
# runner bundle's build reads them (edgekit/emulators/pte_runner_build.py: ARM64_RUNTIME_DIR).
runtime_dir=/var/cache/edgekit/arm64-runtime
fetch=()
while read -r spec; do
  [[ -z "$spec" || "$spec" == \#* ]] && continue
  name=${spec%%=*}; version=${spec#*=}
  [[ -f "$runtime_dir/${name}_${version//:/%3a}_arm64.deb" ]] || fetch+=("$name:arm64=$version")
done < apt-arm64-runtime.txt
[[ ${#missing[@]} -eq 0 && ${#fetch[@]} -eq 0 ]] && exit 0
sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
[[ ${#missing[@]} -eq 0 ]] || echo "installing: ${missing[*]}" >&2
[[ ${#fetch[@]} -eq 0 ]] || echo "downloading: ${fetch[*]}" >&2
# Versions with "bpo12" come from bookworm-backports. Its entry reuses the mirror of the machine's own bookworm
# entry (deb822 or one-line format), so no host is named here and a local mirror keeps working.
backports=/etc/apt/sources.list.d/edgekit-bookworm-backports.list
if [[ " ${missing[*]}" == *bpo12* ]] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  uri=$(awk '/^URIs:/{u=$2} /^Suites:/ && / bookworm( |$)/{print u; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [[ -n "$uri" ]] || uri=$(awk '$1=="deb" && $3=="bookworm"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [[ -n "$uri" ]] || { echo "no bookworm apt source found to derive bookworm-backports from" >&2; exit 1; }
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm-backports main" | $sudo tee "$backports" >/dev/null
fi
# apt-get download needs the arm64 package lists; adding the architecture installs nothing of it.
if [[ ${#fetch[@]} -gt 0 ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo dpkg --add-architecture arm64
fi
$sudo apt-get update -qq
[[ ${#missing[@]} -eq 0 ]] || \
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ ${#fetch[@]} -gt 0 ]]; then
  $sudo mkdir -p "$runtime_dir"
  # As root into a root-owned folder: apt's sandbox user could not write there, so it is not used.
  (cd "$runtime_dir" && $sudo apt-get download -qq -o APT::Sandbox::User=root "${fetch[@]}")
fi
