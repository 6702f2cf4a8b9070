#ifndef TSBUILD_RUNTIME_NETWORK_H
#define TSBUILD_RUNTIME_NETWORK_H

#include "error.h"

/* Brings up `lo` in a new network namespace, as crun and runc do: only loopback, but working. */
int network_loopback_up (struct shim_error *err);

#endif
