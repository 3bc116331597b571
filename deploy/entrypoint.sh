#!/bin/sh
# Start one replica of the image from deploy/Dockerfile: copy the numba cache compiled at build time into
# the writable cache directory, then run the command (the image's CMD, Streamlit) in this process's place.
#
# Why a copy: the code and the prebuilt cache belong to root, and the app user cannot change them (numba
# loads its cache with pickle, so a cache the app could rewrite would be code it could rewrite). But numba
# uses NUMBA_CACHE_DIR only if it can create a file there (numba/core/caching.py, ensure_cache_path): a
# read-only cache directory is passed over for the next locator (the source tree's __pycache__, then
# ~/.cache/numba), and every kernel would be compiled again for the first visitor. So each start copies
# the root-owned /opt/numba-cache (UNROLLED_NUMBA_PREBUILT) into NUMBA_CACHE_DIR, emptied first (an
# emptyDir in deploy/k8s.yaml); numba may add kernels of its own there (a CPU unlike the builder's).
#
# UNROLLED_CPU_LIMIT (the pod's CPU limit, deploy/k8s.yaml): without UNROLLED_HEAVY_SLOTS, heavy work gets
# one slot less than the limit (at least one), the app's own default on a machine of that many cores.
set -eu
: "${NUMBA_CACHE_DIR:?NUMBA_CACHE_DIR is not set}"
prebuilt="${UNROLLED_NUMBA_PREBUILT:-/opt/numba-cache}"
mkdir -p "$NUMBA_CACHE_DIR"
find "$NUMBA_CACHE_DIR" -mindepth 1 -delete
cp -R "$prebuilt/." "$NUMBA_CACHE_DIR"
if [ -z "${UNROLLED_HEAVY_SLOTS:-}" ] && [ -n "${UNROLLED_CPU_LIMIT:-}" ]; then
    UNROLLED_HEAVY_SLOTS=$((UNROLLED_CPU_LIMIT > 1 ? UNROLLED_CPU_LIMIT - 1 : 1))
    export UNROLLED_HEAVY_SLOTS
fi
exec "$@"
