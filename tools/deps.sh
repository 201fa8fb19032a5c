#!/bin/sh
# deps.sh - install the Debian packages flowgate and its tests need (jq reads
# JSON in the integration tests), if any are missing.
#
# The -dev packages of libgit2's own dependencies (mbedTLS, libssh2,
# http-parser, PCRE2, zlib) and libssl-dev, libyaml-dev ship the .a files
# the Makefile links libgit2 statically from (STATIC=1, see there).
#
# As root it runs apt-get (update first, once); otherwise it prints the one
# command to run and fails.  Called by 'make check', 'make run' and CI.
set -u

pkgs="build-essential pkg-config git curl libgit2-dev libevent-dev
libcurl4-openssl-dev libcjson-dev libyaml-dev libcunit1-dev libssl-dev
zlib1g-dev libmbedtls-dev libssh2-1-dev libhttp-parser-dev libpcre2-dev jq"
missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "flowgate: missing packages:$missing" >&2
	echo "install them with: sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "flowgate: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 && apt-get install -y -qq $missing >&2
