#!/bin/sh
# Generate protobuf-c code for containerd's gRPC API from the .proto files that Debian's
# golang-github-containerd-containerd-dev installs. The gogoproto/fieldpath options only steer Go
# code generation (field numbers and types are untouched), so they are stripped into the build
# directory first; the sources under /usr/share are never modified and nothing is vendored.
# usage: gen-containerd-protos.sh <gocode src root> <out dir>
set -eu
src_root=$1
out=$2
api=github.com/containerd/containerd/api
if [ ! -d "$src_root/$api" ]; then
    echo "gen-containerd-protos: $src_root/$api not found; run 'make deps' (package golang-github-containerd-containerd-dev)" >&2
    exit 1
fi
stage="$out/.proto-stripped"
rm -rf "$stage"
mkdir -p "$stage" "$out"
# introspection needs google/rpc/status (another -dev package) and the ttrpc events service is for
# shims; kukeon uses neither.
protos=$(cd "$src_root" && find "$api" -name '*.proto' ! -path '*/ttrpc/*' ! -path '*/introspection/*' | LC_ALL=C sort)
for p in $protos; do
    mkdir -p "$stage/$(dirname "$p")"
    sed -E -e '/^import weak /d' \
        -e '/^[[:space:]]*option \((gogoproto|containerd\.plugin)\.[a-z_]+\)/d' \
        -e 's/[[:space:]]*\[\(gogoproto\.[^]]*\]//' \
        "$src_root/$p" > "$stage/$p"
done
# A proto whose option bracket spans lines would survive the sed: refuse to build on it.
if grep -rqE 'gogoproto|containerd\.plugin' "$stage"; then
    echo "gen-containerd-protos: gogoproto options left after stripping:" >&2
    grep -rnE 'gogoproto|containerd\.plugin' "$stage" >&2
    exit 1
fi
(cd "$stage" && protoc-c -I. -I/usr/include --c_out="$(cd .. && pwd)" $protos)
protoc-c -I/usr/include --c_out="$out" google/protobuf/any.proto google/protobuf/empty.proto \
    google/protobuf/field_mask.proto google/protobuf/timestamp.proto
rm -rf "$stage"
