# Registry harness for shell tests (source it after tests/lib/tap.sh). Everything lives under
# $KUKEON_TEST_TMP/<prefix>-registry*, listens on 127.0.0.1 only, and is stopped by pid.
#
#   reg_start                 Debian's docker-registry over TLS (a self-signed certificate for
#                             127.0.0.1 made here with openssl) with htpasswd (bcrypt) auth. Sets:
#                               REG_HOST  127.0.0.1:<port>       REG_USER / REG_PASS  the one account
#                               REG_CERT  the certificate (PEM)  REG_LOG  the registry's log (access
#                                                                 lines name every path requested)
#                             Returns 1 with REG_SKIP_REASON set when the machine lacks a tool.
#   reg_push TAR REPO:TAG     push an OCI layout tarball (KUKEON_TEST_IMAGE) as REG_HOST/REPO:TAG
#                             with skopeo; prints skopeo's output on failure.
#   reg_requests PATTERN      how many requests in REG_LOG matched PATTERN (an ERE on the URI).
#   reg_fake_start            tests/tools/fake_registry.py on its own port, same certificate, serving
#                             the blobs of KUKEON_TEST_IMAGE (Bearer tokens from /token for
#                             REG_USER/REG_PASS). Sets FREG_HOST and FREG_LOG (one requested path a
#                             line). Repositories: multi/busybox:1 (an index: the host's platform is
#                             the real image; linux/arm64 and linux/riscv64 point to manifests whose
#                             blobs are never served), plain/busybox:1 (the real manifest),
#                             bad/busybox:1 (a layer whose bytes do not match its digest),
#                             schema1/busybox:1 (a Docker schema 1 manifest), moved/busybox:1 and
#                             away/busybox:1 (blobs redirected to /cdn/ on 127.0.0.1, or on localhost),
#                             slow/busybox:1 (the real image, its layer sent in 40 chunks 0.1 s apart).
# Call reg_start and reg_fake_start in the test's own shell (not in $(...)): reg_stop waits for them.
#   reg_stop                  stop both (by pid) and remove their files. Safe to call twice.
# shellcheck shell=bash

REG_HOST="" REG_USER="kukeon" REG_PASS="" REG_CERT="" REG_LOG="" REG_PID="" REG_DIR="" REG_SKIP_REASON=""
FREG_HOST="" FREG_LOG="" FREG_PID=""

_reg_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait until host:port accepts a TCP connection (or pid died); 0 when it does.
_reg_wait_port() { # port pid
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

_reg_certs() {
    [ -f "$REG_DIR/cert.pem" ] && return 0
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
        -keyout "$REG_DIR/key.pem" -out "$REG_DIR/cert.pem" >"$REG_DIR/openssl.log" 2>&1
}

_reg_dir() {
    [ -n "$REG_DIR" ] && return 0
    [ -n "${KUKEON_TEST_TMP:-}" ] || { REG_SKIP_REASON="KUKEON_TEST_TMP is not set; run through tests/run.sh"; return 1; }
    REG_DIR="$KUKEON_TEST_TMP/${KUKEON_TEST_PREFIX:-kt$$}-registry.$$"
    mkdir -p "$REG_DIR" && chmod 0700 "$REG_DIR"
    REG_CERT="$REG_DIR/cert.pem"
    REG_PASS="pw-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    _reg_certs || { REG_SKIP_REASON="openssl could not make a certificate: $(cat "$REG_DIR/openssl.log")"; return 1; }
}

reg_start() {
    local tool
    for tool in docker-registry htpasswd openssl skopeo python3; do
        command -v "$tool" >/dev/null || {
            REG_SKIP_REASON="$tool not installed (apt-get install docker-registry apache2-utils openssl skopeo python3)"
            return 1
        }
    done
    _reg_dir || return 1
    htpasswd -Bbn "$REG_USER" "$REG_PASS" >"$REG_DIR/htpasswd" 2>/dev/null ||
        { REG_SKIP_REASON="htpasswd -Bbn failed"; return 1; }
    local port
    port=$(_reg_free_port) || { REG_SKIP_REASON="no free port"; return 1; }
    mkdir -p "$REG_DIR/data"
    cat >"$REG_DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  tls:
    certificate: $REG_DIR/cert.pem
    key: $REG_DIR/key.pem
auth:
  htpasswd:
    realm: kukeon-test
    path: $REG_DIR/htpasswd
EOF
    REG_LOG="$REG_DIR/registry.log"
    docker-registry serve "$REG_DIR/config.yml" >"$REG_LOG" 2>&1 </dev/null &
    REG_PID=$!
    if ! _reg_wait_port "$port" "$REG_PID"; then
        REG_SKIP_REASON="docker-registry did not start: $(tail -n 5 "$REG_LOG")"
        reg_stop
        return 1
    fi
    REG_HOST="127.0.0.1:$port"
}

reg_push() { # tar repo:tag
    local out
    printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$REG_DIR/policy.json"
    if ! out=$(TMPDIR="$REG_DIR" timeout 120 skopeo --policy "$REG_DIR/policy.json" copy --quiet \
        --dest-tls-verify=false --dest-creds "$REG_USER:$REG_PASS" \
        "oci-archive:$1" "docker://$REG_HOST/$2" 2>&1); then
        echo "skopeo copy of $1 to $REG_HOST/$2 failed: $out" >&2
        return 1
    fi
}

reg_requests() { # ERE on the request URI
    grep -E "\"GET [^ ]*$1" "$REG_LOG" 2>/dev/null | awk 'END { print NR }'
}

reg_fake_start() {
    _reg_dir || return 1
    [ -n "${KUKEON_TEST_IMAGE:-}" ] && [ -f "$KUKEON_TEST_IMAGE" ] ||
        { REG_SKIP_REASON="KUKEON_TEST_IMAGE is not set (the busybox test image did not build)"; return 1; }
    local port
    port=$(_reg_free_port) || { REG_SKIP_REASON="no free port"; return 1; }
    FREG_LOG="$REG_DIR/fake.log"
    : >"$FREG_LOG"
    python3 "$KUKEON_TOP/tests/tools/fake_registry.py" --port "$port" --cert "$REG_DIR/cert.pem" \
        --key "$REG_DIR/key.pem" --image "$KUKEON_TEST_IMAGE" --log "$FREG_LOG" \
        --user "$REG_USER" --password "$REG_PASS" >"$REG_DIR/fake.out" 2>&1 </dev/null &
    FREG_PID=$!
    if ! _reg_wait_port "$port" "$FREG_PID"; then
        REG_SKIP_REASON="fake_registry.py did not start: $(tail -n 5 "$REG_DIR/fake.out")"
        return 1
    fi
    FREG_HOST="127.0.0.1:$port"
}

reg_stop() {
    local pid
    for pid in "$REG_PID" "$FREG_PID"; do
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    REG_PID="" FREG_PID=""
    if [ -n "$REG_DIR" ] && [ -d "$REG_DIR" ]; then
        rm -rf --one-file-system "$REG_DIR"
    fi
    REG_DIR=""
}
