#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The fault suite without the journal (max_unflushed=0), for the client
# that checks its flush (nbdcopy --flush): every run that met a fault must
# fail loudly, none may survive by luck or end silently wrong.  (A client
# that ignores a failed final flush, as qemu-img convert 7.2 does, cannot
# be told without the journal: the man page says so.)
export PLUGIN_ARGS="max_unflushed=0" FAULT_SUITE_EXPECT=loud
export FAULT_SUITE_CLIENTS='^nbdcopy-flush$'
exec "$(dirname "$0")/test-faults-suite.sh"
