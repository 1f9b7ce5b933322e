// Empties L2 of a kernel's data, and the instruction caches of its code, before it is timed,
// for the tuner and the benchmarks.
#ifndef TILEFUSE_RUNTIME_L2_FLUSH_H_
#define TILEFUSE_RUNTIME_L2_FLUSH_H_

#include <cuda.h>

#include "absl/status/status.h"

namespace tilefuse::internal {

// Enqueues on `stream` a read of 256 MiB (five times the H100's 50 MB of L2): a row sum,
// which leaves L2 full of clean lines. (A memset leaves it dirty, and the timed kernel
// then pays ~50 MB of write-backs: ~17 us.) It also keeps the GPU busy while the timed
// launch is submitted, so that a start event recorded after it does not time the host's
// launch latency. Then 184 KB of other kernels' code runs on every SM, so that the timed
// kernel's code is fetched cold, as at an engine's decode step where other kernels ran
// between two launches of it (a decode GEMM with 158 KB of code took 19 us so and 14 with
// its code warm; docs/NOTES.md, session 8). The buffers and plans are made on first use on
// each device (the current context's), and kept for the process. Needs a GPU.
absl::Status FlushL2(CUstream stream);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_L2_FLUSH_H_
