#!/bin/sh
# make demo: a two-way session encoded by libproto from the text notation
# in tests/golden/session.msg, written as a TCP capture, and decoded by
# msgdump in its main forms. (When the reference peer exists, the demo
# becomes a live session between two peers.)
set -eu
O=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
dump="$O/bin/msgdump"

"$O/tests/bin/msgscript" -w "$tmp/session.pcap" "$top/tests/golden/session.msg"

# Headings in bold only on a terminal, and never with NO_COLOR.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi

say "the session, one line per message:  msgdump -r session.pcap"
TZ=UTC "$dump" -r "$tmp/session.pcap"
say "one message as a tree, with its bytes:  msgdump -v -X -c 1"
TZ=UTC "$dump" -r "$tmp/session.pcap" -v -X -c 1 -t
say "the same as JSON, for jq:  msgdump -j -c 1 | jq -c '.items[].name'"
"$dump" -r "$tmp/session.pcap" -j -c 1 | jq -c '[.items[].name]'
say "as text that reads back into the same bytes:  msgdump -m -c 4"
"$dump" -r "$tmp/session.pcap" -m -c 4
say "transactions, latency, unanswered commands:  msgdump -q"
"$dump" -r "$tmp/session.pcap" -q
