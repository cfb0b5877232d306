# The Debian packages the corosync engine (rgmanager's cargo feature `corosync`, which the
# tests and the package build with) needs to build: rust-corosync links libcpg, libquorum,
# libvotequorum, libcfg and libcmap. Prints the missing ones, one a line.
corosync_dev_missing() {
    local lib
    for lib in cpg quorum votequorum cfg cmap; do
        [ -f "/usr/include/corosync/$lib.h" ] || echo "lib$lib-dev"
    done
    [ -f /usr/include/corosync/corotypes.h ] || echo libcorosync-common-dev
}
