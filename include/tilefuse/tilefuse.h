// tilefuse: a JIT runtime that fuses pointwise ops, row reductions and norms into GPU tile
// kernels (GEMMs, row-wise kernels), compiles them with NVRTC, caches the binaries in
// memory and on disk, and launches them through the CUDA driver. The one header an engine
// includes. README.md shows the engine-side use.
#ifndef TILEFUSE_TILEFUSE_H_
#define TILEFUSE_TILEFUSE_H_

#include "tilefuse/export.h"
#include "tilefuse/graph.h"
#include "tilefuse/log.h"
#include "tilefuse/plan.h"
#include "tilefuse/status.h"
#include "tilefuse/version.h"

#endif  // TILEFUSE_TILEFUSE_H_
