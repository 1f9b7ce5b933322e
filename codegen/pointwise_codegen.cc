#include "codegen/pointwise_codegen.h"

#include "absl/strings/str_cat.h"
#include "codegen/emitter.h"
#include "codegen/expr_codegen.h"
#include "codegen/params.h"
#include "codegen/source.h"
#include "runtime/status_macros.h"

namespace tilefuse {
namespace {

void EmitParams(Emitter& e, const PointwiseSpec& spec) {
  e.Open("struct Params {");
  for (const ParamField& f : PointwiseParamLayout(spec)) {
    switch (f.kind) {
      case ParamField::kOperandPtr:
        e.Line(absl::StrCat("const ", DeviceStorageType(spec.operands[f.index].dtype), "* in",
                            f.index, ";"));
        break;
      case ParamField::kOutputPtr:
        e.Line(absl::StrCat(DeviceStorageType(spec.outputs[f.index].dtype), "* out", f.index, ";"));
        break;
      case ParamField::kNumel: e.Line("long long n;"); break;
      case ParamField::kVectorOk: e.Line("long long vector_ok;"); break;
      case ParamField::kInner: e.Line(absl::StrCat("long long inner", f.index, ";")); break;
      case ParamField::kDim:
        if (f.dim == 0) e.Line(absl::StrCat("long long dims[", spec.rank, "];"));
        break;
      case ParamField::kStride:
        if (f.dim == 0) e.Line(absl::StrCat("long long stride", f.index, "[", spec.rank, "];"));
        break;
    }
  }
  e.Close("};");
}

std::string LoadStatement(const PointwiseSpec& spec, int k) {
  const std::string a = absl::StrCat("a", k);
  switch (spec.operands[k].access) {
    case Access::kFull: return absl::StrCat("tf::load_vec<W>(", a, ", p.in", k, " + i);");
    case Access::kInner:
      return absl::StrCat("tf::load_vec<W>(", a, ", p.in", k, " + i % p.inner", k, ");");
    case Access::kScalar: return absl::StrCat("tf::load_bcast<W>(", a, ", p.in", k, ");");
    case Access::kStrided:
      return absl::StrCat("tf::load_strided<W, ", spec.rank, ">(", a, ", p.in", k,
                          ", i, p.dims, p.stride", k, ");");
  }
  return "";
}

}  // namespace

const std::vector<std::string>& PointwiseTemplateFiles() {
  static const std::vector<std::string>* files =
      new std::vector<std::string>{"tf_math.cuh", "pointwise.cuh"};
  return *files;
}

absl::StatusOr<std::string> GeneratePointwiseGlue(const PointwiseSpec& spec,
                                                  const std::string& entry_name) {
  if (spec.outputs.empty()) return absl::InternalError("pointwise spec has no outputs");
  Emitter e;
  e.Line(kGlueMarker);
  e.Open(absl::StrCat("namespace ", entry_name, "_ns {"));
  EmitParams(e, spec);
  e.Blank();
  e.Open("struct Hooks {");
  e.Line("using Params = " + entry_name + "_ns::Params;");
  e.Line(absl::StrCat("static constexpr int kVec = ", spec.Vec(), ";"));
  e.Line("template <int W>");
  e.Open("static __device__ __forceinline__ void apply(const Params& p, long long i) {");
  for (size_t k = 0; k < spec.operands.size(); ++k) {
    e.Line(absl::StrCat(ComputeTypeName(spec.operands[k].dtype), " a", k, "[W];"));
    e.Line(LoadStatement(spec, static_cast<int>(k)));
  }
  for (size_t j = 0; j < spec.outputs.size(); ++j) {
    e.Line(absl::StrCat(ComputeTypeName(spec.outputs[j].dtype), " r", j, "[W];"));
  }
  e.Line("#pragma unroll");
  e.Open("for (int l = 0; l < W; ++l) {");
  ExprEmitter ex(e, [](const ExprNode& leaf) { return absl::StrCat("a", leaf.operand, "[l]"); });
  for (size_t j = 0; j < spec.outputs.size(); ++j) {
    TF_ASSIGN_OR_RETURN(std::string v, ex.Emit(spec.outputs[j].expr));
    e.Line(absl::StrCat("r", j, "[l] = ",
                        ConvertKind(v, spec.outputs[j].expr->dtype, spec.outputs[j].dtype), ";"));
  }
  e.Close();
  for (size_t j = 0; j < spec.outputs.size(); ++j) {
    e.Line(absl::StrCat("tf::store_vec<W>(p.out", j, " + i, r", j, ");"));
  }
  e.Close();
  e.Close("};");
  e.Close(absl::StrCat("}  // namespace ", entry_name, "_ns"));
  e.Blank();
  e.Open(absl::StrCat("extern \"C\" __global__ void __launch_bounds__(", kPointwiseThreads, ") ",
                      entry_name, "(const ", entry_name, "_ns::Params p) {"));
  e.Line(absl::StrCat("tf::pointwise_kernel<", entry_name, "_ns::Hooks>(p);"));
  e.Close();
  return e.Finish();
}

absl::StatusOr<std::string> GeneratePointwiseSource(const PointwiseSpec& spec,
                                                    const std::string& entry_name) {
  TF_ASSIGN_OR_RETURN(std::string templates, TemplateText(PointwiseTemplateFiles()));
  TF_ASSIGN_OR_RETURN(std::string glue, GeneratePointwiseGlue(spec, entry_name));
  return absl::StrCat(templates, glue);
}

}  // namespace tilefuse
