#!/bin/sh
# Install the Debian packages msgkit builds and tests with, when absent.
# Quiet when everything is present: the common case costs one dpkg-query.
#
# usage: mk/deps.sh build|test|fuzz
set -eu

build_pkgs="gcc make pkg-config libpcap-dev libreadline-dev libcmocka-dev libssl-dev liburing-dev"
test_pkgs="tcpdump tshark socat jq mandoc procps iproute2 openssh-sftp-server openssh-client"
fuzz_pkgs="clang libclang-rt-14-dev"

case "${1:-build}" in
build) want="$build_pkgs" ;;
test)  want="$build_pkgs $test_pkgs $fuzz_pkgs" ;;
fuzz)  want="$build_pkgs $fuzz_pkgs" ;;
*) echo "usage: $0 build|test|fuzz" >&2; exit 2 ;;
esac

missing=
for p in $want; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "msgkit: missing Debian packages:$missing" >&2
	echo "msgkit: run the build as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "msgkit: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, quietly.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	debconf-set-selections 2>/dev/null || true
if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
