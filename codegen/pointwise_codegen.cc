#include "codegen/pointwise_codegen.h"

#include "absl/strings/str_cat.h"
#include "codegen/emitter.h"
#include "codegen/glue.h"
#include "codegen/source.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {

const std::vector<std::string>& PointwiseTemplateFiles() {
  static const std::vector<std::string>* files =
      new std::vector<std::string>{"tf_math.cuh", "pointwise.cuh"};
  return *files;
}

absl::StatusOr<std::string> GeneratePointwiseGlue(const KernelSpec& spec,
                                                  const std::string& entry_name) {
  if (spec.outputs.empty()) return absl::InternalError("pointwise spec has no outputs");
  Emitter e;
  EmitHooksPreamble(e, spec, entry_name);
  e.Line("template <int W>");
  e.Open("static __device__ __forceinline__ void apply(const Params& p, long long i) {");
  TF_RETURN_IF_ERROR(EmitSiteLoadsAndStores(e, spec, kEpilogueSite, "i", "", {}));
  e.Close();
  e.Close("};");
  EmitEntry(e, entry_name, absl::StrCat(kPointwiseThreads),
            absl::StrCat("tf::pointwise_kernel<", entry_name, "_ns::Hooks>(p);"));
  return e.Finish();
}

absl::StatusOr<std::string> GeneratePointwiseSource(const KernelSpec& spec,
                                                    const std::string& entry_name) {
  TF_ASSIGN_OR_RETURN(std::string templates, TemplateText(PointwiseTemplateFiles()));
  TF_ASSIGN_OR_RETURN(std::string glue, GeneratePointwiseGlue(spec, entry_name));
  return absl::StrCat(templates, glue);
}

}  // namespace tilefuse::internal
