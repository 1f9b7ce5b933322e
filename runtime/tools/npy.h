// NumPy .npy files (format 1.0/2.0, little-endian, C order) for `tilefuse run`.
// NumPy has no bf16: bf16 tensors travel as f32 arrays, rounded to nearest even on the way
// in and written back as f32; f16, f32, i32 and bool arrays are taken as they are.
#ifndef TILEFUSE_RUNTIME_TOOLS_NPY_H_
#define TILEFUSE_RUNTIME_TOOLS_NPY_H_

#include <string>

#include "absl/status/statusor.h"
#include "runtime/reference.h"

namespace tilefuse::internal {

// Files of at most this many bytes are read.
inline constexpr size_t kMaxNpyBytes = size_t{1} << 36;

// Reads `path` as a tensor of dtype `want` (see the conversion rules above; bf16 also as
// ml_dtypes writes it, '<V2'). The file must be a regular file of format 1.0, 2.0 or 3.0,
// little-endian, C order, with a shape of at most 8 dims and 2^48 elements whose data is
// exactly the file's rest: all checked before the tensor is allocated.
absl::StatusOr<HostTensor> ReadNpy(const std::string& path, DType want);
// Writes `t` (bf16 as f32).
absl::Status WriteNpy(const std::string& path, const HostTensor& t);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_TOOLS_NPY_H_
