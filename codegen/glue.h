// Pieces of generated glue shared by every kernel kind: the Params struct and the
// statements that read operands and write outputs at a hook site.
#ifndef TILEFUSE_CODEGEN_GLUE_H_
#define TILEFUSE_CODEGEN_GLUE_H_

#include <string>

#include "absl/status/statusor.h"
#include "codegen/emitter.h"
#include "runtime/fusion/kernel_spec.h"

namespace tilefuse::internal {

// The start every kernel's glue shares: the marker, the per-kernel namespace, Params, and
// `struct Hooks {` with its Params alias and kVec; the caller adds hooks and closes it.
void EmitHooksPreamble(Emitter& e, const KernelSpec& spec, const std::string& entry_name);

// How the glue names operand k's extents: the constants EmitHooksPreamble declares where
// the spec fixes them (OperandSpec::static_dims), else the launch's Params fields.
std::string DimsRef(const KernelSpec& spec, int k);
std::string StridesRef(const KernelSpec& spec, int k);
std::string InnerRef(const KernelSpec& spec, int k);

// struct Params { ... }; in ParamLayout order.
void EmitParams(Emitter& e, const KernelSpec& spec);

// Declares `C a<k>[W]` and loads operand k at flat index `index` of its site; a strided
// one from `coords`, the name of the site's tf::Coords where declared.
void EmitOperandLoad(Emitter& e, const KernelSpec& spec, int k, const std::string& index,
                     const std::string& coords = "");

// What an output's store writes. A final cast to the output's own 16-bit float type is left
// to the store, which rounds the same way: the cast's round trip through bf16 would cost two
// more instructions per element (most epilogues end in one).
const Expr& StoredValue(const OutputSpec& out);

// Emits, inside a lane loop over l, the values of `outputs` of `site` and stores them at
// flat index `index`: `r<j>[W]` arrays, then store_vec. `tile_value` is the C++ text of
// the tile's value at lane l ("" when the site has none). Returns the emitter for the
// leaves so that callers can compute more from the same loads.
absl::Status EmitSiteLoadsAndStores(Emitter& e, const KernelSpec& spec, int site,
                                    const std::string& index, const std::string& tile_value,
                                    const std::vector<std::pair<std::string, Expr>>& extra);

// EmitSiteLoadsAndStores less the loads: the operands' a<k>[W] arrays are in scope.
absl::Status EmitSiteStores(Emitter& e, const KernelSpec& spec, int site, const std::string& index,
                            const std::string& tile_value, const std::vector<std::pair<std::string, Expr>>& extra);

// Closes the per-kernel namespace and emits the extern "C" entry calling `call`: `attrs`,
// then __launch_bounds__(`bounds`), then the parameters, `params` or by default the
// Params block alone. The entry first waits for the kernels before it (Plan::Run's
// overlapped launches, kernels/pointwise.cuh grid_dependency_wait).
void EmitEntry(Emitter& e, const std::string& entry_name, const std::string& bounds, const std::string& call,
               const std::string& attrs = "", const std::string& params = "");

}  // namespace tilefuse::internal

#endif  // TILEFUSE_CODEGEN_GLUE_H_
