# Integration harness, sourced by tests/run.sh (and usable by hand: source it, harness_setup).
# It starts a private containerd (its own root, state and socket in a temporary directory, Debian's
# runc, the overlayfs snapshotter), builds the busybox test image, and exports for the tests:
#   KUKEON_TEST_TMP                 the temporary directory (removed at teardown)
#   KUKEON_TEST_CONTAINERD_SOCKET   the private containerd's socket
#   KUKEON_TEST_IMAGE               an OCI layout tarball of busybox-static (kukeon.local/busybox:test)
#   KUKEON_TEST_PREFIX              a prefix for every host object a test creates (kt<pid>); name
#                                   objects "<prefix>-..." (never a digit right after the prefix), e.g.
#                                   containerd namespace "<prefix>-smoke.kukeon.io"
#   KUKEON_TEST_SKIP_REASON         set when integration tests cannot run here, with the reason
# Teardown removes everything the harness and the tests made, even after a failure: tasks and
# shims of the private containerd, the containerd itself (by pid), mounts under the directory,
# network namespaces, bridges and cgroups named with the test prefix, and the host-wide iptables
# chains (KUKEON-FORWARD, portmap's CNI-HOSTPORT-*) that were not there before the run.
# shellcheck shell=bash
_harness_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

harness_log() { echo "# harness: $*" >&2; }

harness_setup() {
    export KUKEON_TEST_PREFIX="kt$$"
    unset KUKEON_TEST_SKIP_REASON KUKEON_TEST_CONTAINERD_SOCKET KUKEON_TEST_IMAGE
    if [ "$(id -u)" -ne 0 ]; then
        export KUKEON_TEST_SKIP_REASON="integration tests need root (containerd, cgroups, network namespaces); run 'sudo make check'"
        harness_log "$KUKEON_TEST_SKIP_REASON"
        return 0
    fi
    # The system accounts the daemon group runs as, as `kuke init` makes them: on a fresh machine
    # the first test that starts a helper must find them, whichever test that is.
    if ! "$BUILD/tests/tools/ensure_accounts"; then
        export KUKEON_TEST_SKIP_REASON="the system accounts kukeon, kukeon-cgd, kukeon-ctrd and kukeon-fetchd could not be created"
        harness_log "$KUKEON_TEST_SKIP_REASON"
        return 0
    fi
    KUKEON_TEST_TMP=$(mktemp -d /var/tmp/kukeon-test.XXXXXX) || return 1
    export KUKEON_TEST_TMP
    chmod 0711 "$KUKEON_TEST_TMP"
    # Chains that CNI plugins and netd create once and never remove: remember which were there.
    "$_harness_dir/iptables-state.sh" record "$KUKEON_TEST_TMP/iptables-before"
    if ! "$_harness_dir/containerd.sh" start "$KUKEON_TEST_TMP/containerd"; then
        export KUKEON_TEST_SKIP_REASON="the private containerd did not start; see $KUKEON_TEST_TMP/containerd/containerd.log"
        harness_log "$KUKEON_TEST_SKIP_REASON"
        tail -n 20 "$KUKEON_TEST_TMP/containerd/containerd.log" >&2 2>/dev/null
        return 0
    fi
    export KUKEON_TEST_CONTAINERD_SOCKET="$KUKEON_TEST_TMP/containerd/containerd.sock"
    if "$KUKEON_TOP/tests/images/build-busybox-oci.sh" "$KUKEON_TEST_TMP/busybox-oci.tar" >"$KUKEON_TEST_TMP/image.log" 2>&1; then
        export KUKEON_TEST_IMAGE="$KUKEON_TEST_TMP/busybox-oci.tar"
    else
        harness_log "building the busybox test image failed (tests that need it will skip):"
        tail -n 20 "$KUKEON_TEST_TMP/image.log" >&2
    fi
    harness_log "containerd at $KUKEON_TEST_CONTAINERD_SOCKET, image ${KUKEON_TEST_IMAGE:-none}, prefix $KUKEON_TEST_PREFIX"
}

harness_teardown() {
    [ -n "${KUKEON_TEST_TMP:-}" ] && [ -d "$KUKEON_TEST_TMP" ] || return 0
    # Every step runs even when an earlier one failed; each failure is said and returned, so the
    # runner counts a dirty host as a failed run.
    local rc=0
    "$_harness_dir/containerd.sh" stop "$KUKEON_TEST_TMP/containerd" ||
        { harness_log "stopping the private containerd failed"; rc=1; }
    "$_harness_dir/cleanup.sh" "${KUKEON_TEST_PREFIX:-}" "$KUKEON_TEST_TMP" ||
        { harness_log "removing the run's host objects failed"; rc=1; }
    "$_harness_dir/iptables-state.sh" restore "$KUKEON_TEST_TMP/iptables-before" ||
        { harness_log "removing the iptables chains the run created failed"; rc=1; }
    # --one-file-system: should an unmount have failed, never delete through it into the host.
    if ! rm -rf --one-file-system "$KUKEON_TEST_TMP"; then
        harness_log "could not remove $KUKEON_TEST_TMP; see 'grep $KUKEON_TEST_TMP /proc/self/mountinfo'"
        rc=1
    fi
    unset KUKEON_TEST_TMP
    return $rc
}
