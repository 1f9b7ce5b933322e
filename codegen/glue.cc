#include "codegen/glue.h"

#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codegen/expr_codegen.h"
#include "codegen/params.h"
#include "codegen/source.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {

void EmitParams(Emitter& e, const KernelSpec& spec) {
  e.Open("struct Params {");
  for (const ParamField& f : ParamLayout(spec)) {
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
        if (f.dim == 0) {
          e.Line(absl::StrCat("long long dims", f.index, "[", spec.operands[f.index].rank, "];"));
        }
        break;
      case ParamField::kStride:
        if (f.dim == 0) {
          e.Line(absl::StrCat("long long stride", f.index, "[", spec.operands[f.index].rank, "];"));
        }
        break;
      case ParamField::kRows: e.Line("long long rows;"); break;
      case ParamField::kCols: e.Line("long long cols;"); break;
      case ParamField::kEps: e.Line("double eps;"); break;
      case ParamField::kDepth: e.Line("long long depth;"); break;
      case ParamField::kRedCount: e.Line("long long red_n;"); break;
      case ParamField::kPartial: e.Line("float* part;"); break;
      case ParamField::kSplitK: e.Line("float* splitk;"); break;
      case ParamField::kSplitCount: e.Line("unsigned* splitk_count;"); break;
    }
  }
  e.Close("};");
}

namespace {

// Whether operand k's extents are all constants where its kernel reads them: every dim but
// the first (which only a gather over a one-dim space reads), and the strides.
bool StaticDims(const OperandSpec& o) {
  if (o.static_dims.empty()) return false;
  const size_t first = o.gathered && o.rank <= 2 ? 0 : 1;
  for (size_t d = first; d < o.static_dims.size(); ++d) {
    if (o.static_dims[d] <= 0) return false;
  }
  return true;
}

}  // namespace

std::string DimsRef(const KernelSpec& spec, int k) {
  return StaticDims(spec.operands[k]) ? absl::StrCat("kDims", k) : absl::StrCat("p.dims", k);
}
std::string StridesRef(const KernelSpec& spec, int k) {
  return spec.operands[k].static_strides.empty() ? absl::StrCat("p.stride", k) : absl::StrCat("kStrides", k);
}
std::string InnerRef(const KernelSpec& spec, int k) {
  return spec.operands[k].static_inner > 0 ? absl::StrCat("kInner", k) : absl::StrCat("p.inner", k);
}

// The extents the spec fixes, as constants of the kernel's namespace (the launch still
// passes them in Params): divisions by them become multiplies, tests of a unit or zero
// stride fold away. Maybe unused: a tile's own operands are read by the tile's code.
void EmitStaticExtents(Emitter& e, const KernelSpec& spec) {
  const auto list = [](const std::vector<int64_t>& v) {
    return absl::StrJoin(v, ", ", [](std::string* out, int64_t x) { absl::StrAppend(out, x, "LL"); });
  };
  for (size_t k = 0; k < spec.operands.size(); ++k) {
    const OperandSpec& o = spec.operands[k];
    if (StaticDims(o)) {
      e.Line(absl::StrCat("[[maybe_unused]] __device__ constexpr long long kDims", k, "[", o.static_dims.size(),
                          "] = {", list(o.static_dims), "};"));
    }
    if (!o.static_strides.empty()) {
      e.Line(absl::StrCat("[[maybe_unused]] __device__ constexpr long long kStrides", k, "[",
                          o.static_strides.size(), "] = {", list(o.static_strides), "};"));
    }
    if (o.static_inner > 0) {
      e.Line(absl::StrCat("[[maybe_unused]] __device__ constexpr long long kInner", k, " = ", o.static_inner, "LL;"));
    }
  }
}

void EmitHooksPreamble(Emitter& e, const KernelSpec& spec, const std::string& entry_name) {
  e.Line(kGlueMarker);
  e.Open(absl::StrCat("namespace ", entry_name, "_ns {"));
  EmitParams(e, spec);
  EmitStaticExtents(e, spec);
  e.Blank();
  e.Open("struct Hooks {");
  e.Line("using Params = " + entry_name + "_ns::Params;");
  e.Line(absl::StrCat("static constexpr int kVec = ", spec.Vec(), ";"));
}

namespace {

// A strided operand's (or gather's) run over the site: from the site's coordinates where
// they are declared (`coords`), else found from `index`.
void EmitRun(Emitter& e, const KernelSpec& spec, int k, int rank, const std::string& index,
             const std::string& coords) {
  e.Line(absl::StrCat("const tf::StridedRun<", rank, "> run", k, "(", index, ", ",
                      coords.empty() ? DimsRef(spec, k) : coords, ", ", StridesRef(spec, k), ");"));
}

}  // namespace

void EmitOperandLoad(Emitter& e, const KernelSpec& spec, int k, const std::string& index,
                     const std::string& coords) {
  const OperandSpec& o = spec.operands[k];
  if (o.gathered) return;  // read by its gather (EmitSiteStores)
  const std::string a = absl::StrCat("a", k), in = absl::StrCat("p.in", k);
  e.Line(absl::StrCat(ComputeTypeName(o.dtype), " ", a, "[W];"));
  if (o.iota) {
    std::string off;
    switch (o.access) {
      case Access::kFull: off = absl::StrCat(index, " + l"); break;
      case Access::kInner: off = absl::StrCat("tf::mod_index(", index, " + l, ", InnerRef(spec, k), ")"); break;
      case Access::kOuter: off = absl::StrCat("tf::div_index(", index, " + l, ", InnerRef(spec, k), ")"); break;
      case Access::kScalar: off = "0"; break;
      case Access::kGroup:
        off = absl::StrCat("tf::group_offset(", index, " + l, ", InnerRef(spec, k), ", ", o.group, "LL, ", o.groups,
                           "LL)");
        break;
      case Access::kStrided:
        EmitRun(e, spec, k, o.rank, index, coords);
        e.Line(absl::StrCat("tf::iota_run<W>(", a, ", ", in, ", ", o.iota_start, "LL, ", o.iota_step, "LL, run", k,
                            ", ", DimsRef(spec, k), ", ", StridesRef(spec, k), ");"));
        return;
    }
    e.Line(absl::StrCat("for (int l = 0; l < W; ++l) ", a, "[l] = tf::iota_elem<", ComputeTypeName(o.dtype), ">(", in,
                        ", ", o.iota_start, "LL, ", o.iota_step, "LL, ", off, ");"));
    return;
  }
  if (o.dtype == DType::kI4 && (o.access == Access::kFull || o.access == Access::kInner)) {
    // Packed two per byte: the helper takes the element index, not a pointer to it.
    const std::string at = o.access == Access::kFull ? index
                                                     : absl::StrCat("tf::mod_index(", index, ", ", InnerRef(spec, k),
                                                                    ")");
    e.Line(absl::StrCat("tf::load_i4<W>(", a, ", ", in, ", ", at, ");"));
    return;
  }
  switch (o.access) {
    case Access::kFull: e.Line(absl::StrCat("tf::load_vec<W>(", a, ", ", in, " + ", index, ");")); break;
    case Access::kInner:
      e.Line(absl::StrCat("tf::load_vec<W>(", a, ", ", in, " + tf::mod_index(", index, ", ", InnerRef(spec, k), "));"));
      break;
    case Access::kScalar: e.Line(absl::StrCat("tf::load_bcast<W>(", a, ", ", in, ");")); break;
    case Access::kOuter:
      e.Line(absl::StrCat("tf::load_outer<W>(", a, ", ", in, ", ", index, ", ", InnerRef(spec, k), ");"));
      break;
    case Access::kStrided:
      if (coords.empty()) {
        e.Line(absl::StrCat("tf::load_strided<W, ", o.rank, ">(", a, ", ", in, ", ", index, ", ", DimsRef(spec, k),
                            ", ", StridesRef(spec, k), ");"));
      } else {
        EmitRun(e, spec, k, o.rank, index, coords);
        e.Line(absl::StrCat("tf::load_run<W>(", a, ", ", in, ", run", k, ", ", DimsRef(spec, k), ", ",
                            StridesRef(spec, k), ");"));
      }
      break;
    case Access::kGroup:
      e.Line(absl::StrCat("tf::load_group<W>(", a, ", ", in, ", ", index, ", ", InnerRef(spec, k), ", ", o.group,
                          "LL, ", o.groups, "LL);"));
      break;
  }
}

const Expr& StoredValue(const OutputSpec& out) {
  const Expr& x = out.expr;
  const bool narrow = out.dtype == DType::kBF16 || out.dtype == DType::kF16 || IsFloat8(out.dtype);
  if (narrow && x->kind == ExprKind::kOp && x->op == PointwiseOp::kCast && x->dtype == out.dtype &&
      ComputeKindOf(x->args[0]->dtype) == ComputeKind::kFloat) {
    return x->args[0];
  }
  return x;
}

namespace {

// Whether `e` reads only operands loaded before the site's loop (no tile value, no gather).
bool ReadsOnlyLoads(const Expr& e) {
  if (e->kind == ExprKind::kTileValue || e->kind == ExprKind::kGather) return false;
  for (const Expr& a : e->args) {
    if (!ReadsOnlyLoads(a)) return false;
  }
  return true;
}

// The gathers of a site's values whose positions come from loads alone (an iota plus a
// constant, cat's and rotate-half's): read W at a time before the loop (load_gather).
// Iotas and packed i4 stay element by element.
std::vector<Expr> HoistableGathers(const KernelSpec& spec, int site,
                                   const std::vector<std::pair<std::string, Expr>>& extra) {
  std::vector<Expr> found;
  std::set<const ExprNode*> seen;
  std::function<void(const Expr&)> walk = [&](const Expr& e) {
    if (!seen.insert(e.get()).second) return;
    for (const Expr& a : e->args) walk(a);
    if (e->kind != ExprKind::kGather) return;
    const OperandSpec& o = spec.operands[e->operand];
    if (!o.iota && o.dtype != DType::kI4 && ReadsOnlyLoads(e->args[0])) found.push_back(e);
  };
  for (const OutputSpec& out : spec.outputs) {
    if (out.site == site) walk(StoredValue(out));
  }
  for (const auto& [name, expr] : extra) walk(expr);
  return found;
}

// The rank of the site's index space that operand `o` is read over by coordinates (strided
// operands and gathers), else 0.
int CoordRank(const OperandSpec& o) {
  if (o.access != Access::kStrided) return 0;
  return o.gathered ? o.rank - 1 : o.rank;
}

// Declares `cs<R>`, the coordinates of `index` over the site's index space, once for every
// rank R that its operands (`gathers_only`: its gathers) read by coordinates: one set of
// divisions per site instead of one per operand.
void EmitSiteCoords(Emitter& e, const KernelSpec& spec, int site, const std::string& index, bool gathers_only) {
  std::set<int> ranks;
  for (size_t k = 0; k < spec.operands.size(); ++k) {
    const OperandSpec& o = spec.operands[k];
    const int r = CoordRank(o);
    if (o.site != site || r == 0 || (gathers_only && !o.gathered) || !ranks.insert(r).second) continue;
    e.Line(absl::StrCat("const tf::Coords<", r, "> cs", r, "(", index, ", ", DimsRef(spec, static_cast<int>(k)), ");"));
  }
}

std::string CoordsName(const OperandSpec& o) { return absl::StrCat("cs", CoordRank(o)); }

absl::Status EmitSiteStoresAt(Emitter& e, const KernelSpec& spec, int site, const std::string& index,
                              const std::string& tile_value, const std::vector<std::pair<std::string, Expr>>& extra);

}  // namespace

absl::Status EmitSiteLoadsAndStores(Emitter& e, const KernelSpec& spec, int site,
                                    const std::string& index, const std::string& tile_value,
                                    const std::vector<std::pair<std::string, Expr>>& extra) {
  EmitSiteCoords(e, spec, site, index, false);
  for (size_t k = 0; k < spec.operands.size(); ++k) {
    const OperandSpec& o = spec.operands[k];
    if (o.site == site) EmitOperandLoad(e, spec, static_cast<int>(k), index, CoordRank(o) > 0 ? CoordsName(o) : "");
  }
  return EmitSiteStoresAt(e, spec, site, index, tile_value, extra);
}

absl::Status EmitSiteStores(Emitter& e, const KernelSpec& spec, int site, const std::string& index,
                            const std::string& tile_value, const std::vector<std::pair<std::string, Expr>>& extra) {
  EmitSiteCoords(e, spec, site, index, true);
  return EmitSiteStoresAt(e, spec, site, index, tile_value, extra);
}

namespace {

// EmitSiteStores with the site's coordinates declared.
absl::Status EmitSiteStoresAt(Emitter& e, const KernelSpec& spec, int site, const std::string& index,
                              const std::string& tile_value, const std::vector<std::pair<std::string, Expr>>& extra) {
  for (size_t j = 0; j < spec.outputs.size(); ++j) {
    if (spec.outputs[j].site != site) continue;
    e.Line(absl::StrCat(ComputeTypeName(spec.outputs[j].dtype), " r", j, "[W];"));
  }
  // A gather's offsets over the site: from the site's coordinates, once for the W elements.
  for (size_t k = 0; k < spec.operands.size(); ++k) {
    const OperandSpec& o = spec.operands[k];
    if (!o.gathered || o.site != site) continue;
    EmitRun(e, spec, static_cast<int>(k), o.rank - 1, index, CoordsName(o));
    e.Line(absl::StrCat("(void)run", k, ";"));
  }
  const std::vector<Expr> hoisted = HoistableGathers(spec, site, extra);
  if (!hoisted.empty()) {
    // Their positions first, for all W elements; then each gather's W reads at once.
    for (size_t h = 0; h < hoisted.size(); ++h) e.Line(absl::StrCat("int gi", h, "[W];"));
    e.Line("#pragma unroll");
    e.Open("for (int l = 0; l < W; ++l) {");
    ExprEmitter pos(e, [](const ExprNode& leaf) { return absl::StrCat("a", leaf.operand, "[l]"); });
    for (size_t h = 0; h < hoisted.size(); ++h) {
      const Expr& at = hoisted[h]->args[0];
      TF_ASSIGN_OR_RETURN(std::string v, pos.Emit(at));
      e.Line(absl::StrCat("gi", h, "[l] = ", ConvertKind(v, at->dtype, DType::kI32), ";"));
    }
    e.Close();
    for (size_t h = 0; h < hoisted.size(); ++h) {
      const OperandSpec& o = spec.operands[hoisted[h]->operand];
      const std::string k = absl::StrCat(hoisted[h]->operand);
      e.Line(absl::StrCat(ComputeTypeName(o.dtype), " g", h, "[W];"));
      const int q = hoisted[h]->operand;
      e.Line(absl::StrCat("tf::load_gather<W, ", o.rank - 1, ">(g", h, ", p.in", k, ", run", k, ", gi", h, ", ",
                          DimsRef(spec, q), ", ", StridesRef(spec, q), ");"));
    }
  }
  e.Line("#pragma unroll");
  e.Open("for (int l = 0; l < W; ++l) {");
  ExprEmitter ex(e, [&](const ExprNode& leaf) {
    // The tile's value arrives as fp32 (argmax's index too): bring it to the leaf's kind.
    // Index 1 is a reduction's second result (the variance), which hooks name v2.
    if (leaf.kind == ExprKind::kTileValue) {
      return ConvertKind(leaf.operand == 1 ? std::string("var_v[l]") : tile_value, DType::kF32, leaf.dtype);
    }
    return absl::StrCat("a", leaf.operand, "[l]");
  });
  ex.SetGather([&](const ExprNode& g, const std::string& at) {
    const OperandSpec& o = spec.operands[g.operand];
    const std::string k = absl::StrCat(g.operand);
    const std::string dims = DimsRef(spec, g.operand), strides = StridesRef(spec, g.operand);
    const std::string off = absl::StrCat("tf::gather_at<", o.rank - 1, ">(run", k, ".at(l, ", dims, ", ", strides,
                                         "), ", at, ", ", dims, ", ", strides, ")");
    if (o.iota) {
      return absl::StrCat("tf::iota_elem<", ComputeTypeName(o.dtype), ">(p.in", k, ", ", o.iota_start, "LL, ",
                          o.iota_step, "LL, ", off, ")");
    }
    return absl::StrCat("tf::read_elem<", ComputeTypeName(o.dtype), ">(p.in", k, ", ", off, ")");
  });
  for (size_t h = 0; h < hoisted.size(); ++h) ex.Define(hoisted[h].get(), absl::StrCat("g", h, "[l]"));
  for (size_t j = 0; j < spec.outputs.size(); ++j) {
    if (spec.outputs[j].site != site) continue;
    const Expr& value = StoredValue(spec.outputs[j]);
    TF_ASSIGN_OR_RETURN(std::string v, ex.Emit(value));
    e.Line(absl::StrCat("r", j, "[l] = ", ConvertKind(v, value->dtype, spec.outputs[j].dtype), ";"));
  }
  for (const auto& [name, expr] : extra) {
    TF_ASSIGN_OR_RETURN(std::string v, ex.Emit(expr));
    e.Line(absl::StrCat(name, "[l] = ", ConvertKind(v, expr->dtype, DType::kF32), ";"));
  }
  e.Close();
  for (size_t j = 0; j < spec.outputs.size(); ++j) {
    if (spec.outputs[j].site != site) continue;
    e.Line(absl::StrCat("tf::store_vec<W>(p.out", j, " + ", index, ", r", j, ");"));
  }
  return absl::OkStatus();
}

}  // namespace

void EmitEntry(Emitter& e, const std::string& entry_name, const std::string& bounds, const std::string& call,
               const std::string& attrs, const std::string& params) {
  e.Close(absl::StrCat("}  // namespace ", entry_name, "_ns"));
  e.Blank();
  e.Open(absl::StrCat("extern \"C\" __global__ void ", attrs, "__launch_bounds__(", bounds, ") ", entry_name, "(",
                      params.empty() ? absl::StrCat("const ", entry_name, "_ns::Params p") : params, ") {"));
  e.Line("tf::grid_dependency_wait();");
  e.Line(call);
  e.Close();
}

}  // namespace tilefuse::internal
