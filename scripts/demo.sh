#!/bin/sh
# The product's main journey, as far as it is built: show the version of the client and, when a
# daemon is running, of the daemon.
set -eu
build=${1:-build}
echo "+ $build/bin/kuke version"
"$build/bin/kuke" version
