#include "test/plan_interpreter.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "kernels/tf_math.cuh"
#include "runtime/fusion/views.h"
#include "runtime/reference_ops.h"
#include "runtime/graph/promotion.h"
#include "runtime/status_macros.h"
#include "test/host_data.h"

namespace tilefuse::internal {
namespace {

// Count, mean and sum of squared deviations, merged as the kernels merge them (in double).
struct Moments {
  double n = 0, mean = 0, m2 = 0;
  Moments Merge(const Moments& b) const {
    const double t = n + b.n;
    if (t == 0) return *this;
    const double d = b.mean - mean;
    return Moments{t, mean + d * b.n / t, m2 + b.m2 + d * d * n * b.n / t};
  }
  Moments Add(double x) const { return Merge(Moments{1, x, 0}); }
};

struct ElementEval {
  const std::vector<Scalar>* loads;
  float tile_value;
  float tile_value2;  // a Welford reduction's variance (ExprKind::kTileValue index 1)
  // Each node's value once per element (a flat list: the expressions are small, and the
  // interpreter's time over a million elements was the map's allocations).
  absl::InlinedVector<std::pair<const ExprNode*, Scalar>, 16> memo;
  const std::vector<float>* stages = nullptr;  // a row kernel's results (kTileValue index k)
  // A gather's read of its operand at the given position of its gathered axis.
  std::function<Scalar(int operand, int index)> gather;

  absl::StatusOr<Scalar> Eval(const Expr& e) {
    for (const auto& [node, value] : memo) {
      if (node == e.get()) return value;
    }
    Scalar r;
    switch (e->kind) {
      case ExprKind::kLoad: r = (*loads)[e->operand]; break;
      case ExprKind::kConstant: r = FromDouble(e->constant, e->dtype); break;
      case ExprKind::kGather: {
        TF_ASSIGN_OR_RETURN(Scalar at, Eval(e->args[0]));
        r = gather(e->operand, at.i);
        break;
      }
      case ExprKind::kTileValue: {
        Scalar f;
        f.f = e->operand >= kStageValue0 ? (*stages)[e->operand - kStageValue0]
               : e->operand == 1             ? tile_value2
                                             : tile_value;
        r = Convert(f, DType::kF32, e->dtype);
        break;
      }
      case ExprKind::kOp: {
        absl::InlinedVector<DType, 4> arg_dtypes;
        for (const Expr& x : e->args) arg_dtypes.push_back(x->dtype);
        absl::InlinedVector<Scalar, 4> args;
        for (size_t i = 0; i < e->args.size(); ++i) {
          TF_ASSIGN_OR_RETURN(Scalar a, Eval(e->args[i]));
          args.push_back(Convert(a, e->args[i]->dtype, OperandDType(e->op, e->dtype, arg_dtypes, i)));
        }
        TF_ASSIGN_OR_RETURN(r, ApplyPointwise(e->op, e->attrs, e->dtype, args.data(),
                                              OperandDType(e->op, e->dtype, arg_dtypes, 0)));
        break;
      }
    }
    memo.emplace_back(e.get(), r);
    return r;
  }
};

class Interpreter {
 public:
  Interpreter(const Graph& g, const FusionPlan& plan, const std::vector<HostTensor>& inputs,
              const std::vector<int64_t>& symbols)
      : g_(g), plan_(plan), inputs_(inputs), syms_(symbols) {
    for (int o : g.outputs()) {
      outputs_.push_back(HostTensor::Zeros(g.node(o).dtype, ConcreteShape(g.node(o).shape, symbols)));
    }
    for (const WorkspaceSlot& w : plan.workspace) {
      workspace_.push_back(HostTensor::Zeros(w.dtype, {w.Elements(symbols)}));
    }
  }

  absl::StatusOr<std::vector<HostTensor>> Run() {
    for (const KernelPlan& k : plan_.kernels) {
      if (!k.RunsAt(syms_)) continue;  // another form's kernel (a range of M)
      if (k.spec.is_pointwise()) {
        TF_RETURN_IF_ERROR(Site(k, kEpilogueSite, Numel(k.index_space).Eval(syms_), nullptr, nullptr));
        continue;
      }
      if (k.spec.tile == "row") {
        TF_RETURN_IF_ERROR(Row(k));
        continue;
      }
      // Tile kernel: prologues produce the logical inputs, the op runs on them, the
      // epilogue consumes its value.
      const Node& t = g_.node(k.tile_node);
      // A dual GEMM's tile input 2 is its second matmul's B.
      // A split dual GEMM's B halves are [K, N] windows of one weight (no node of their own).
      std::vector<int> in_nodes(t.inputs.begin(), t.inputs.end());
      if (k.dual_node >= 0) in_nodes.push_back(g_.node(k.dual_node).inputs[1]);
      if (k.spec.dual_split) in_nodes.push_back(t.inputs[1]);
      std::vector<std::vector<float>> ins(in_nodes.size());
      for (size_t j = 0; j < in_nodes.size(); ++j) {
        // A combine kernel reads the partials of a split reduction, not the node's input.
        const int64_t n = k.partial_of >= 0                 ? Buffer(k.operands[0].buffer).numel()
                          : k.spec.dual_split && j > 0 ? k.depth.Eval(syms_) * k.cols.Eval(syms_)
                                                           : Numel(g_.node(in_nodes[j]).shape).Eval(syms_);
        ins[j].resize(n);
        TF_RETURN_IF_ERROR(Site(k, static_cast<int>(j), n, nullptr, &ins[j]));
      }
      std::vector<float> y, y2;
      if (k.spec.tile == "reduce") {
        const int64_t rows = k.rows.Eval(syms_), inner = k.depth.Eval(syms_);
        const int64_t r = (k.cols.Eval(syms_) + k.cols_tile - 1) / k.cols_tile;
        const int op = k.spec.reduce_op == 3 ? 0 : k.spec.reduce_op;  // a mean divides by red_count
        for (int64_t o = 0; o < rows; ++o) {
          const int64_t base = (o / inner) * r * inner + o % inner;
          const auto at = [&](int64_t j) { return ins[0][base + j * inner]; };
          if (op == 5 || op == 6) {  // var, and the merge of Welford partials
            Moments m;
            for (int64_t j = 0; j < r; ++j) {
              m = op == 5 ? m.Add(at(j)) : m.Merge(Moments{ins[0][3 * (base + j * inner)], ins[0][3 * (base + j * inner) + 1],
                                                           ins[0][3 * (base + j * inner) + 2]});
            }
            y.push_back(static_cast<float>(m.mean));
            y2.push_back(static_cast<float>(m.m2 / (m.n - k.spec.correction)));
            continue;
          }
          const float v = ReduceValues(op, r, at);
          y.push_back(k.spec.reduce_op == 3 ? v / static_cast<float>(k.red_count.Eval(syms_)) : v);
        }
      } else if (k.spec.tile == "matmul") {
        y = Matmul(k, ins, 1);
        if (k.spec.dual) y2 = Matmul(k, ins, 2);  // the second product: kTileValue index 1
      } else {
        TF_ASSIGN_OR_RETURN(y, Rowwise(k, ins));
      }
      if (!k.spec.stages.empty()) {  // a GEMM's row epilogue
        TF_RETURN_IF_ERROR(Row(k, &y));
        continue;
      }
      if (k.spec.reduce.op < 0) {
        TF_RETURN_IF_ERROR(Site(k, kEpilogueSite, static_cast<int64_t>(y.size()), &y, nullptr, y2.empty() ? nullptr : &y2));
        continue;
      }
      std::vector<float> red(y.size());
      TF_RETURN_IF_ERROR(Site(k, kEpilogueSite, static_cast<int64_t>(y.size()), &y, &red));
      TF_RETURN_IF_ERROR(ReduceAtStore(k, red));
    }
    return outputs_;
  }

 private:
  HostTensor& Buffer(const BufferRef& b) {
    if (b.kind == BufferRef::kInput) return const_cast<HostTensor&>(inputs_[b.index]);
    return b.kind == BufferRef::kOutput ? outputs_[b.index] : workspace_[b.index];
  }

  // Evaluates every element of `site`: loads its operands, stores its outputs, and records
  // the tile input of the site in `capture` (prologue sites).
  absl::Status Site(const KernelPlan& k, int site, int64_t n, const std::vector<float>* tile,
                    std::vector<float>* capture, const std::vector<float>* tile2 = nullptr) {
    std::vector<Scalar> loads(k.operands.size());
    for (int64_t i = 0; i < n; ++i) {
      TF_RETURN_IF_ERROR(Load(k, site, i, loads));
      ElementEval ev{&loads, tile != nullptr ? (*tile)[i] : 0.f, tile2 != nullptr ? (*tile2)[i] : 0.f, {}};
      ev.gather = [&](int o, int index) { return Gathered(k, o, i, index); };
      TF_RETURN_IF_ERROR(Store(k, site, i, ev));
      for (size_t w = 0; site == kEpilogueSite && w < k.spec.windows.size(); ++w) {
        // A column window's outputs, at the element's index in the window.
        const ColumnWindow& c = k.spec.windows[w];
        const int64_t cols = k.cols.Eval(syms_), col = i % cols;
        if (col < c.start || col >= c.start + c.len) continue;
        const int64_t iw = i / cols * c.len + col - c.start;
        TF_RETURN_IF_ERROR(Load(k, WindowSite(static_cast<int>(w)), iw, loads));
        TF_RETURN_IF_ERROR(Store(k, WindowSite(static_cast<int>(w)), iw, ev));
      }
      if (capture != nullptr) {
        const Expr& e = site == kEpilogueSite ? k.spec.reduce.input : k.spec.tile_inputs[site].expr;
        TF_ASSIGN_OR_RETURN(Scalar v, ev.Eval(e));
        (*capture)[i] = Convert(v, e->dtype, DType::kF32).f;
      }
    }
    return absl::OkStatus();
  }

  // The outputs of `site` at element i.
  absl::Status Store(const KernelPlan& k, int site, int64_t i, ElementEval& ev) {
    for (size_t j = 0; j < k.outputs.size(); ++j) {
      if (k.spec.outputs[j].site != site) continue;
      TF_ASSIGN_OR_RETURN(Scalar v, ev.Eval(k.spec.outputs[j].expr));
      const DType t = k.spec.outputs[j].dtype;
      Buffer(k.outputs[j].buffer).Set(i, ComputeKindOf(t) == ComputeKind::kFloat ? v.f : v.i);
    }
    return absl::OkStatus();
  }

  // A generated row kernel: per row, each stage reduces its input over the row (in
  // double) given the earlier stages; then the row's outputs of both sites.
  absl::Status Row(const KernelPlan& k, const std::vector<float>* tile = nullptr) {
    const int64_t rows = k.rows.Eval(syms_), cols = k.cols.Eval(syms_);
    std::vector<Scalar> loads(k.operands.size());
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> stages;
      const auto element = [&](int64_t c) -> absl::StatusOr<ElementEval> {
        TF_RETURN_IF_ERROR(Load(k, kEpilogueSite, r * cols + c, loads));
        TF_RETURN_IF_ERROR(Load(k, kReducedSite, r, loads));
        ElementEval ev{&loads, tile != nullptr ? (*tile)[r * cols + c] : 0.f, 0.f, {}};
        ev.stages = &stages;
        return ev;
      };
      for (const RowStage& st : k.spec.stages) {
        double acc = st.op == 1 ? -INFINITY : st.op == 2 ? INFINITY : st.op == 8 ? 1.0 : 0.0;
        for (int64_t c = 0; c < cols; ++c) {
          TF_ASSIGN_OR_RETURN(ElementEval ev, element(c));
          TF_ASSIGN_OR_RETURN(Scalar v, ev.Eval(st.input));
          const double x = Convert(v, st.input->dtype, DType::kF32).f;
          if (st.op == 1 || st.op == 2) {
            acc = std::isnan(acc) || std::isnan(x) ? NAN : st.op == 1 ? std::max(acc, x) : std::min(acc, x);
          } else if (st.op == 8) {
            acc *= x;
          } else {
            const double d = st.op == 5 ? x - stages[st.about] : x;
            acc += st.op == 5 ? d * d : d;
          }
        }
        if (st.op == 3) acc /= static_cast<double>(cols);
        if (st.op == 5) acc /= static_cast<double>(cols - st.correction);
        stages.push_back(static_cast<float>(acc));
      }
      for (int64_t c = 0; c < cols; ++c) {
        TF_ASSIGN_OR_RETURN(ElementEval ev, element(c));
        TF_RETURN_IF_ERROR(Store(k, kEpilogueSite, r * cols + c, ev));
      }
      TF_RETURN_IF_ERROR(Load(k, kReducedSite, r, loads));
      ElementEval ev{&loads, 0.f, 0.f, {}};
      ev.stages = &stages;
      TF_RETURN_IF_ERROR(Store(k, kReducedSite, r, ev));
    }
    return absl::OkStatus();
  }

  // Operand o's element at element offset `off` of its buffer (an iota's value there).
  Scalar Element(const KernelPlan& k, size_t o, int64_t off) {
    const OperandSpec& s = k.spec.operands[o];
    if (s.iota) return FromDouble(static_cast<double>(s.iota_start) + static_cast<double>(s.iota_step) * off, s.dtype);
    return FromDouble(Buffer(k.operands[o].buffer).Get(off), s.dtype);
  }

  // What gathered operand o reads for element i of its site, its axis at `index` (clamped).
  Scalar Gathered(const KernelPlan& k, int o, int64_t i, int index) {
    const OperandBinding& b = k.operands[o];
    const size_t rank = b.dims.size() - 1;
    int64_t off = OffsetValue(b.offset, syms_), rest = i;
    for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
      const int64_t dim = b.dims[d].Eval(syms_);
      off += (rest % dim) * b.strides[d].Eval(syms_);
      rest /= dim;
    }
    const int64_t len = b.dims[rank].Eval(syms_);
    off += std::clamp<int64_t>(index, 0, std::max<int64_t>(len - 1, 0)) * b.strides[rank].Eval(syms_);
    return Element(k, o, off);
  }

  // Reads the operands of `site` at its element i into `loads`.
  absl::Status Load(const KernelPlan& k, int site, int64_t i, std::vector<Scalar>& loads) {
    {
      for (size_t o = 0; o < k.operands.size(); ++o) {
        if (k.spec.operands[o].site != site || k.spec.operands[o].gathered) continue;
        const OperandBinding& b = k.operands[o];
        int64_t off = 0;
        switch (k.spec.operands[o].access) {
          case Access::kFull: off = i; break;
          case Access::kInner: off = i % b.inner.Eval(syms_); break;
          case Access::kOuter: off = i / b.inner.Eval(syms_); break;
          case Access::kScalar: off = 0; break;
          case Access::kGroup: {
            const int64_t kk = b.inner.Eval(syms_);
            off = i / kk * k.spec.operands[o].groups + i % kk / k.spec.operands[o].group;
            break;
          }
          case Access::kStrided: {
            int64_t rest = i;
            for (int d = static_cast<int>(b.dims.size()) - 1; d >= 0; --d) {
              const int64_t dim = b.dims[d].Eval(syms_);
              off += (rest % dim) * b.strides[d].Eval(syms_);
              rest /= dim;
            }
            break;
          }
        }
        off += OffsetValue(b.offset, syms_);
        if (k.spec.operands[o].iota) {
          loads[o] = Element(k, o, off);
          continue;
        }
        const HostTensor& t = Buffer(b.buffer);
        if (off < 0 || off >= t.numel()) {
          return absl::InternalError(absl::StrCat("operand ", o, " reads element ", off, " of ", t.numel()));
        }
        loads[o] = FromDouble(t.Get(off), k.spec.operands[o].dtype);
      }
    }
    return absl::OkStatus();
  }

  // A store-site reduction of the values `red` ([rows, cols]): whole rows or columns into
  // the reduced site (persistent), or per-tile partials into the workspace (split).
  absl::Status ReduceAtStore(const KernelPlan& k, const std::vector<float>& red) {
    const tilefuse::internal::StoreReduce& r = k.spec.reduce;
    const int64_t rows = k.rows.Eval(syms_), cols = k.cols.Eval(syms_);
    const int64_t outs = r.axis == 1 ? rows : cols, len = r.axis == 1 ? cols : rows;
    const int64_t tile = !r.split ? len : r.axis == 1 ? k.spec.gemm.bn : k.spec.gemm.bm;
    const int64_t tiles = (len + tile - 1) / tile;
    const int op = r.op == 3 ? 0 : r.op;
    std::vector<float> done, done2;
    for (int64_t o = 0; o < outs; ++o) {
      for (int64_t t = 0; t < tiles; ++t) {
        const int64_t first = t * tile, n = std::min(tile, len - first);
        const auto at = [&](int64_t j) { return r.axis == 1 ? red[o * cols + first + j] : red[(first + j) * cols + o]; };
        const int64_t slot = r.axis == 1 ? o * tiles + t : t * cols + o;
        if (op == 5) {  // Welford: the mean and variance, or the tile's (n, mean, m2)
          Moments m;
          for (int64_t j = 0; j < n; ++j) m = m.Add(at(j));
          if (!r.split) {
            done.push_back(static_cast<float>(m.mean));
            done2.push_back(static_cast<float>(m.m2 / (m.n - k.spec.correction)));
          } else {
            for (int c = 0; c < 3; ++c) Buffer(k.partial).Set(3 * slot + c, c == 0 ? m.n : c == 1 ? m.mean : m.m2);
          }
          continue;
        }
        const float v = ReduceValues(op, n, at);
        if (!r.split) {
          done.push_back(r.op == 3 ? v / static_cast<float>(k.red_count.Eval(syms_)) : v);
        } else {
          Buffer(k.partial).Set(slot, v);
        }
      }
    }
    if (r.split) return absl::OkStatus();
    return Site(k, kReducedSite, outs, &done, nullptr, done2.empty() ? nullptr : &done2);
  }

  // A x B, B tile input `b` (1, or a dual GEMM's 2).
  std::vector<float> Matmul(const KernelPlan& k, const std::vector<std::vector<float>>& in, int b) {
    const int64_t m = k.rows.Eval(syms_), n = k.cols.Eval(syms_), kk = k.depth.Eval(syms_);
    const DType t = k.spec.tile_inputs[0].dtype;
    const auto round = [&](float f) {
      return t == DType::kBF16 ? tf::round_bf16(f) : t == DType::kF16 ? tf::round_half(f) : f;
    };
    // The accumulators' start (kAccStartSite): an operand with one value per column.
    std::vector<double> start(n, 0.0);
    for (size_t o = 0; o < k.operands.size(); ++o) {
      if (k.spec.operands[o].site != kAccStartSite) continue;
      const HostTensor& b = Buffer(k.operands[o].buffer);
      const int64_t first = OffsetValue(k.operands[o].offset, syms_);
      for (int64_t c = 0; c < n; ++c) {
        start[c] = FromDouble(b.Get(first + (k.spec.operands[o].access == Access::kScalar ? 0 : c)),
                              k.spec.operands[o].dtype).f;
      }
    }
    // A batched GEMM: batch z reads A at z * m * kk, B at z * kk * n and writes z * m * n on.
    const int64_t batches = k.batches.Eval(syms_);
    std::vector<float> y(batches * m * n);
    // Rounded to the MMA's type once; B as [N, K] so that each output walks contiguous memory.
    // B's site is [K, N], or [N, K] when its prologue runs over the transposed value.
    const bool nk = k.spec.b_layout == GemmBLayout::kHookNK;
    std::vector<float> bt(kk * n), row(kk);
    for (int64_t z = 0; z < batches; ++z) {
      const float* a = in[0].data() + z * m * kk;
      const float* bz = in[b].data() + z * kk * n;
      for (int64_t i = 0; i < kk * n; ++i) bt[nk ? i : (i % n) * kk + i / n] = round(bz[i]);
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t e = 0; e < kk; ++e) row[e] = round(a[r * kk + e]);
        for (int64_t c = 0; c < n; ++c) {
          y[z * m * n + r * n + c] = static_cast<float>(start[c] + Dot(row.data(), &bt[c * kk], kk));
        }
      }
    }
    return y;
  }

  absl::StatusOr<std::vector<float>> Rowwise(const KernelPlan& k, const std::vector<std::vector<float>>& in) {
    const int64_t cols = k.cols.Eval(syms_), rows = k.rows.Eval(syms_);
    std::vector<float> y(in[0].size());
    const float eps = static_cast<float>(k.spec.eps);
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = &in[0][r * cols];
      float* out = &y[r * cols];
      if (k.spec.custom != nullptr) {
        std::vector<const float*> params;
        for (size_t j = 1; j < in.size(); ++j) params.push_back(in[j].data());
        k.spec.custom->reference(x, params, cols, out);
      } else if (k.spec.tile == "rms_norm") {
        float ss = 0;
        for (int64_t c = 0; c < cols; ++c) ss += x[c] * x[c];
        const float inv = 1.0f / std::sqrt(ss / cols + eps);
        for (int64_t c = 0; c < cols; ++c) out[c] = x[c] * inv * in[1][c];
      } else if (k.spec.tile == "layer_norm") {
        float sum = 0, sq = 0;
        for (int64_t c = 0; c < cols; ++c) sum += x[c];
        const float mean = sum / cols;
        for (int64_t c = 0; c < cols; ++c) sq += (x[c] - mean) * (x[c] - mean);
        const float inv = 1.0f / std::sqrt(sq / cols + eps);
        for (int64_t c = 0; c < cols; ++c) out[c] = (x[c] - mean) * inv * in[1][c] + in[2][c];
      } else if (k.spec.tile == "softmax") {
        float m = -INFINITY, sum = 0;
        for (int64_t c = 0; c < cols; ++c) m = std::max(m, x[c]);
        for (int64_t c = 0; c < cols; ++c) sum += (out[c] = std::exp(x[c] - m));
        for (int64_t c = 0; c < cols; ++c) out[c] /= sum;
      } else {
        return absl::UnimplementedError(absl::StrCat("interpreter: tile '", k.spec.tile, "'"));
      }
    }
    return y;
  }

  const Graph& g_;
  const FusionPlan& plan_;
  const std::vector<HostTensor>& inputs_;
  const std::vector<int64_t>& syms_;
  std::vector<HostTensor> outputs_, workspace_;
};

}  // namespace

absl::StatusOr<std::vector<HostTensor>> InterpretPlan(const Graph& g, const FusionPlan& plan,
                                                      const std::vector<HostTensor>& inputs,
                                                      const std::vector<int64_t>& symbols) {
  return Interpreter(g, plan, inputs, symbols).Run();
}

}  // namespace tilefuse::internal
