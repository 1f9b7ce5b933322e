#include "codegen/row_codegen.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "codegen/expr_codegen.h"
#include "codegen/glue.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

// Floats of operands a thread may keep in registers for the row (past it, operands read by
// a stage are read again where they are used, from L1/L2).
constexpr int kMaxCachedFloats = 96;

// The combine of a stage's partial values (kernels/reduce_ops.cuh reduce_apply).
int CombineOp(int op) { return op == 1 || op == 2 || op == 8 ? op : 0; }

// Every node of x's DAG (into `out`), not descending below nodes `stop` accepts.
template <class Stop>
void Collect(const Expr& x, std::set<const ExprNode*>& out, const Stop& stop) {
  if (!out.insert(x.get()).second || stop(x)) return;
  for (const Expr& a : x->args) Collect(a, out, stop);
}

class RowGen {
 public:
  RowGen(Emitter& e, const KernelSpec& spec) : e_(e), spec_(spec) {}

  // `gemm`: the body of a GEMM's row_epilogue hook (a warp per row of the staged tile, the
  // GEMM's value a leaf); else the body of a row kernel's entry.
  absl::Status Body(bool gemm) {
    TF_RETURN_IF_ERROR(RewriteDags());
    gemm_ = gemm;
    chunked_ = !gemm && spec_.row.chunked;
    ChooseCached();
    if (gemm) {
      EmitColumnOperands();
      EmitGemmRowLoop();
    } else {
      e_.Line("using H = Hooks;");
      e_.Line("constexpr int V = H::kVec, I = H::kVecs;");
      e_.Line("__shared__ float smem[3 * H::kThreads / 32];");
      e_.Line("(void)smem;");
      e_.Line("#pragma unroll 1");
      e_.Open("for (int g = 0; g < H::kLoop; ++g) {");
      e_.Line("const tf::RowSpan<H> s(p, g);");
      e_.Line("const long long base = s.row * s.cols;");
      e_.Line("(void)base;");
      if (chunked_) e_.Line("constexpr long long kChunk = static_cast<long long>(H::kRowThreads) * I * V;");
    }
    EmitRowOperands();
    EmitCachedLoads(cached_, "s.col(it)");
    ExprEmitter row(e_, [this](const ExprNode& leaf) { return RowLeaf(leaf); });
    for (size_t j = 0; j < spec_.stages.size(); ++j) TF_RETURN_IF_ERROR(EmitStage(row, static_cast<int>(j)));
    TF_RETURN_IF_ERROR(EmitRowOutputs(row));
    TF_RETURN_IF_ERROR(EmitElementOutputs(row));
    e_.Close();
    return absl::OkStatus();
  }

  // Phase `phase` of a row epilogue whose rows span a cluster of column tiles
  // (GemmConfig::row_cluster): each phase walks the CTA's rows of the staged tile again.
  // Phase j < stages computes stage j's partial over this CTA's columns into rpart[j][row].
  // Phase j > 0 first combines stage j - 1's partials of the cluster's CTAs, in rank order
  // (the same bits in every CTA and every run), a thread per row, into rfull. A cluster
  // barrier follows each partial phase, so that the partials are written before they are
  // read; the last phase arrives once its reads are done and waits before leaving, so that
  // no CTA leaves while a peer may read its shared memory.
  absl::Status ClusterPhase(int phase) {
    TF_RETURN_IF_ERROR(RewriteDags());
    gemm_ = cluster_ = true;
    per_ = (spec_.gemm.bn + 31) / 32;  // nothing is cached or kept: each phase reads what it uses
    const int stages = static_cast<int>(spec_.stages.size());
    if (phase > 0) {
      const int j = phase - 1;
      e_.Open("for (int r = tid; r < BM; r += kThreads) {");
      e_.Line(absl::StrCat("const unsigned at = tf::smem_addr(&rpart[", j, "][r]);"));
      e_.Line("float a = tf::cluster_load1(at, 0);");
      e_.Line("#pragma unroll");
      e_.Line(absl::StrCat("for (unsigned q = 1; q < ", spec_.gemm.row_cluster, "; ++q) a = tf::reduce_apply<",
                           CombineOp(spec_.stages[j].op), ">(a, tf::cluster_load1(at, q));"));
      e_.Line(absl::StrCat("rfull[", j, "][r] = a;"));
      e_.Close();
      e_.Line("__syncthreads();");
    }
    if (phase == stages) e_.Line("tf::cluster_arrive();  // the peers' partials are read");
    EmitColumnOperands();
    EmitGemmRowLoop();
    EmitRowOperands();
    for (int j = 0; j < phase; ++j) {
      e_.Line(absl::StrCat("const float r", j, " = ", StageValue(spec_.stages[j], absl::StrCat("rfull[", j, "][rl]")),
                           ";"));
    }
    ExprEmitter row(e_, [this](const ExprNode& leaf) { return RowLeaf(leaf); });
    if (phase < stages) {
      TF_RETURN_IF_ERROR(EmitStage(row, phase));
    } else {
      TF_RETURN_IF_ERROR(EmitRowOutputs(row));
      TF_RETURN_IF_ERROR(EmitElementOutputs(row));
    }
    e_.Close();
    if (phase < stages) e_.Line("tf::cluster_arrive();");
    e_.Line("tf::cluster_wait();");
    return absl::OkStatus();
  }

 private:
  // The DAGs: each stage's input, then the outputs of the epilogue site (Rewrite).
  absl::Status RewriteDags() {
    for (const RowStage& st : spec_.stages) {
      TF_ASSIGN_OR_RETURN(Expr x, Rewrite(st.input));
      stage_inputs_.push_back(x);
    }
    for (const OutputSpec& o : spec_.outputs) {
      TF_ASSIGN_OR_RETURN(Expr x, Rewrite(o.site == kEpilogueSite ? StoredValue(o) : o.expr));
      outputs_.push_back(x);
    }
    return absl::OkStatus();
  }

  // A GEMM's row epilogue: operands over the columns alone (a norm's weight, Access::kInner)
  // read once for this lane's columns, before the loop over the rows, rather than once per
  // row. Over the GEMM's 2D output their inner extent divides N, so that row 0's index is
  // every row's.
  void EmitColumnOperands() {
    for (size_t k = 0; k < spec_.operands.size(); ++k) {
      const OperandSpec& o = spec_.operands[k];
      if (o.site != kEpilogueSite || o.access != Access::kInner) continue;
      const int ki = static_cast<int>(k);
      columns_.insert(ki);
      const std::string t(ComputeTypeName(o.dtype)), h = absl::StrCat("h", k), a = absl::StrCat("a", k);
      e_.Line(absl::StrCat(t, " ", h, "[I][V];"));
      e_.Open("{");
      e_.Line("const Span s{0, N, n0, tid % 32, true, p.vector_ok != 0};");
      e_.Line("#pragma unroll");
      e_.Open("for (int it = 0; it < I; ++it) {");
      e_.Line("const long long c = s.col(it);");
      e_.Line("#pragma unroll");
      e_.Line(absl::StrCat("for (int e = 0; e < V; ++e) ", h, "[it][e] = 0;"));
      e_.Open("if (s.vec_ok && c < s.cols) {");
      e_.Line("constexpr int W = V;");
      e_.Line("const int e0 = 0;");
      e_.Line("const long long i = c;");
      e_.Line("(void)e0; (void)i;");
      EmitLoad(ki);
      e_.Line("#pragma unroll");
      e_.Line(absl::StrCat("for (int l = 0; l < W; ++l) ", h, "[it][l] = ", a, "[l];"));
      e_.Reopen("} else if (!s.vec_ok) {");
      e_.Line("#pragma unroll");
      e_.Open("for (int e = 0; e < V; ++e) {");
      e_.Line("if (!(c + e < s.cols)) break;");
      e_.Line("constexpr int W = 1;");
      e_.Line("const int e0 = e;");
      e_.Line("const long long i = c + e;");
      e_.Line("(void)e0; (void)i;");
      EmitLoad(ki);
      e_.Line(absl::StrCat(h, "[it][e] = ", a, "[0];"));
      e_.Close();
      e_.Close();
      e_.Close();
      e_.Close();
    }
  }

  // A GEMM's row epilogue: the loop over the staged tile's rows, a warp per row, and the
  // row's values of the tile (tv) in this lane's vectors of columns (Span::col), read from
  // the staged tile that holds them (the CTA's last in ctile, the others at extra). Opens
  // the loop.
  void EmitGemmRowLoop() {
    e_.Line("#pragma unroll 1");
    e_.Open("for (int rl = tid / 32; rl < BM; rl += kThreads / 32) {");
    e_.Line("const Span s{m0 + rl, N, n0, tid % 32, m0 + rl < M, p.vector_ok != 0};");
    e_.Line("const long long base = s.row * s.cols;");
    e_.Line("(void)base;");
    e_.Line("float tv[I][V];  // past N: zeros, never read");
    e_.Line("#pragma unroll");
    e_.Open("for (int it = 0; it < I; ++it) {  // tile it / IT of the row's T, the last in ctile");
    e_.Line("const float* tile = it / IT == T - 1 ? ctile : extra + it / IT * BM * tf::kStagingLd<BN>;");
    e_.Line("tf::staging_load<BN, V>(tile, rl, static_cast<int>(s.col(it) - s.n0) - it / IT * BN, tv[it]);");
    e_.Close();
  }

  // Stage st's value from its combined accumulator: a mean or a variance divides.
  static std::string StageValue(const RowStage& st, const std::string& acc) {
    if (st.op == 3) return absl::StrCat(acc, " / static_cast<float>(s.cols)");
    if (st.op == 5) return absl::StrCat(acc, " / static_cast<float>(s.cols - ", st.correction, ")");
    return acc;
  }

  // Operands kept in registers: full ones that a stage reads (the outputs read them too,
  // or the next stage), in operand order while the budget lasts.
  void ChooseCached() {
    // A GEMM's row epilogue: up to 8 columns per lane (rows up to 256), its value held.
    per_ = gemm_ ? (spec_.gemm.bn + 31) / 32 : spec_.row.vecs * spec_.Vec();
    if (gemm_) cached_floats_ += per_;
    if (chunked_) return;  // each pass reads its chunk's operands (ForEachElement)
    for (size_t k = 0; k < spec_.operands.size(); ++k) {
      const OperandSpec& o = spec_.operands[k];
      if (o.site != kEpilogueSite || o.access != Access::kFull) continue;
      bool staged = false;
      for (const Expr& x : stage_inputs_) staged |= ReadsOperand(x, static_cast<int>(k));
      if (!staged || cached_floats_ + per_ > kMaxCachedFloats) continue;
      cached_floats_ += per_;
      cached_.insert(static_cast<int>(k));
    }
  }

  // One value per row: operands of the reduced site, read by every thread of the row.
  void EmitRowOperands() {
    for (size_t k = 0; k < spec_.operands.size(); ++k) {
      if (spec_.operands[k].site != kReducedSite) continue;
      const std::string t(ComputeTypeName(spec_.operands[k].dtype));
      e_.Line(absl::StrCat(t, " s", k, " = ", t, "(0);"));
      e_.Open("if (s.active) {");
      e_.Line("constexpr int W = 1;");
      EmitOperandLoad(e_, spec_, static_cast<int>(k), "s.row");
      e_.Line(absl::StrCat("s", k, " = a", k, "[0];"));
      e_.Close();
    }
  }

  // Full operands `ks` into registers c<k>[I][V] for this thread's vectors at columns
  // `col` (an expression of `it`); zeros past the row. All of a thread's loads are issued
  // before any is used.
  void EmitCachedLoads(const std::set<int>& ks, const std::string& col) {
    for (int k : ks) {
      const std::string c = absl::StrCat("c", k), in = absl::StrCat("p.in", k);
      e_.Line(absl::StrCat(ComputeTypeName(spec_.operands[k].dtype), " ", c, "[I][V];"));
      e_.Line("#pragma unroll");
      e_.Open("for (int it = 0; it < I; ++it) {");
      e_.Line(absl::StrCat("const long long c = ", col, ";"));
      e_.Open("if (s.vec_ok) {");
      e_.Open("if (s.active && c < s.cols) {");
      e_.Line(absl::StrCat("tf::load_vec<V>(", c, "[it], ", in, " + base + c);"));
      e_.Reopen("} else {");
      e_.Line("#pragma unroll");
      e_.Line(absl::StrCat("for (int e = 0; e < V; ++e) ", c, "[it][e] = 0;"));
      e_.Close();
      e_.Reopen("} else {");
      e_.Line("#pragma unroll");
      e_.Open("for (int e = 0; e < V; ++e) {");
      e_.Line(absl::StrCat(ComputeTypeName(spec_.operands[k].dtype), " one[1] = {0};"));
      e_.Line(absl::StrCat("if (s.active && c + e < s.cols) tf::load_vec<1>(one, ", in, " + base + c + e);"));
      e_.Line(absl::StrCat(c, "[it][e] = one[0];"));
      e_.Close();
      e_.Close();
      e_.Close();
    }
  }

  // x / y with y one value per row (softmax's sum, a norm's std) as x * (1 / y): the
  // reciprocal once per row, a multiply per element instead of a division (within 1 ulp).
  absl::StatusOr<Expr> Rewrite(const Expr& x) {
    if (auto it = rewritten_.find(x.get()); it != rewritten_.end()) return it->second;
    Expr r = x;
    if (x->kind == ExprKind::kOp) {
      std::vector<Expr> args;
      bool changed = false;
      for (const Expr& a : x->args) {
        TF_ASSIGN_OR_RETURN(Expr ra, Rewrite(a));
        changed |= ra != a;
        args.push_back(std::move(ra));
      }
      const bool by_row = x->op == PointwiseOp::kDiv && ComputeKindOf(x->dtype) == ComputeKind::kFloat &&
                          RowLevel(args[1]) && !RowLevel(args[0]);
      if (by_row) {
        TF_ASSIGN_OR_RETURN(Expr inv, MakeOp(PointwiseOp::kReciprocal, {args[1]}, {}, DType::kF32));
        TF_ASSIGN_OR_RETURN(r, MakeOp(PointwiseOp::kMul, {args[0], inv}, {}, x->dtype));
      } else if (changed) {
        TF_ASSIGN_OR_RETURN(r, MakeOp(x->op, std::move(args), x->attrs, x->dtype));
      }
    }
    rewritten_[x.get()] = r;
    return r;
  }

  // Values a stage computes per element that a later stage or an output reads again: kept
  // in registers (softmax's exp(x - max), a layer norm's x - mean) rather than recomputed.
  // The largest such values of each stage's DAG, while the budget lasts; never a per-row
  // value (hoisted) or a cast of a leaf (as cheap as reading the registers).
  std::vector<Expr> Shared(int j) {
    if (cluster_ || chunked_) return {};  // the next stage runs in the next phase or pass: nothing kept
    const auto stop_row = [this](const Expr& x) { return RowLevel(x); };
    std::set<const ExprNode*> later;
    for (size_t k = j + 1; k < stage_inputs_.size(); ++k) Collect(stage_inputs_[k], later, stop_row);
    for (size_t o = 0; o < outputs_.size(); ++o) {
      if (spec_.outputs[o].site == kEpilogueSite) Collect(outputs_[o], later, stop_row);
    }
    std::vector<Expr> chosen;
    std::set<const ExprNode*> seen;
    std::vector<const Expr*> stack = {&stage_inputs_[j]};
    while (!stack.empty()) {
      const Expr& x = *stack.back();
      stack.pop_back();
      if (!seen.insert(x.get()).second || kept_.count(x.get()) || RowLevel(x) || x->kind != ExprKind::kOp) continue;
      const bool trivial = x->op == PointwiseOp::kCast && x->args[0]->kind != ExprKind::kOp;
      if (!trivial && later.count(x.get()) && cached_floats_ + per_ <= kMaxCachedFloats) {
        cached_floats_ += per_;
        chosen.push_back(x);
        continue;
      }
      for (const Expr& a : x->args) stack.push_back(&a);
    }
    return chosen;
  }

  // Leaves at the row level: stage results and reduced-site operands.
  std::string RowLeaf(const ExprNode& leaf) const {
    if (leaf.kind == ExprKind::kTileValue) {
      return ConvertKind(absl::StrCat("r", leaf.operand - kStageValue0), DType::kF32, leaf.dtype);
    }
    return absl::StrCat("s", leaf.operand);
  }

  bool RowLevel(const Expr& x) {
    if (auto it = row_level_.find(x.get()); it != row_level_.end()) return it->second;
    bool r = true;
    switch (x->kind) {
      case ExprKind::kConstant: break;
      case ExprKind::kTileValue: r = x->operand >= kStageValue0; break;  // else the GEMM's value
      case ExprKind::kLoad: r = spec_.operands[x->operand].site == kReducedSite; break;
      case ExprKind::kOp:
        for (const Expr& a : x->args) r = RowLevel(a) && r;
        break;
      case ExprKind::kGather: r = false; break;  // never in a row kernel (grouping)
    }
    row_level_[x.get()] = r;
    return r;
  }

  // exp(a - b) with b one value per row (softmax's exp(x - max)) as exp2(a * log2(e) -
  // b * log2(e)): one FMA and the hardware exp2 per element, as the built-in softmax and
  // Triton compute it (the exponent's rounding, ~2^-17 relative for |b| < 100, where expf
  // takes some eight instructions). The per-row -b * log2(e) is computed here.
  absl::Status HoistExpShift(ExprEmitter& row, const Expr& x) {
    if (x->kind != ExprKind::kOp || x->op != PointwiseOp::kExp || exp_shift_.count(x.get())) return absl::OkStatus();
    const Expr& d = x->args[0];
    if (d->kind != ExprKind::kOp || d->op != PointwiseOp::kSub || ComputeKindOf(d->dtype) != ComputeKind::kFloat ||
        ComputeKindOf(d->args[1]->dtype) != ComputeKind::kFloat || !RowLevel(d->args[1]) || RowLevel(d->args[0])) {
      return absl::OkStatus();
    }
    TF_ASSIGN_OR_RETURN(std::string b, row.Emit(d->args[1]));
    const std::string name = absl::StrCat("nb", exp_shift_.size());
    e_.Line(absl::StrCat("const float ", name, " = -(", b, " * 1.4426950408889634f);"));
    exp_shift_[x.get()] = name;
    return absl::OkStatus();
  }

  // Computes the largest row-level parts of x once per row, before the element loops.
  absl::Status Hoist(ExprEmitter& row, const Expr& x, std::set<const ExprNode*>& seen) {
    if (!seen.insert(x.get()).second) return absl::OkStatus();
    TF_RETURN_IF_ERROR(HoistExpShift(row, x));
    if (RowLevel(x)) {
      if (x->kind == ExprKind::kOp) {
        TF_ASSIGN_OR_RETURN(std::string name, row.Emit(x));
        hoisted_[x.get()] = name;
      }
      return absl::OkStatus();
    }
    for (const Expr& a : x->args) TF_RETURN_IF_ERROR(Hoist(row, a, seen));
    return absl::OkStatus();
  }

  // Emits `body` over this thread's elements of the row, W at a time at flat index i, with
  // an ExprEmitter whose leaves are those elements' operand values (cached or loaded).
  template <class Body>
  absl::Status ForEachElement(const std::vector<Expr>& exprs, Body body) {
    std::set<int> loads;  // operands of the epilogue site these expressions read, not held
    for (size_t k = 0; k < spec_.operands.size(); ++k) {
      const int ki = static_cast<int>(k);
      if (spec_.operands[k].site != kEpilogueSite || cached_.count(ki) || columns_.count(ki)) continue;
      for (const Expr& x : exprs) {
        if (ReadsOperand(x, static_cast<int>(k))) loads.insert(static_cast<int>(k));
      }
    }
    // A chunked row: a loop over its chunks, whose full operands are read into registers
    // first (every load of the chunk in flight at once) and used from there.
    std::set<int> chunk_full;
    if (chunked_) {
      for (int k : loads) {
        if (spec_.operands[k].access == Access::kFull) chunk_full.insert(k);
      }
      for (int k : chunk_full) loads.erase(k);
      e_.Open("for (long long at = 0; at < s.cols; at += kChunk) {  // the row's chunks");
      EmitCachedLoads(chunk_full, "at + s.col(it)");
      cached_.insert(chunk_full.begin(), chunk_full.end());
    }
    const auto block = [&](const std::string& width, const std::string& first) -> absl::Status {
      e_.Line(absl::StrCat("constexpr int W = ", width, ";"));
      e_.Line(absl::StrCat("const int e0 = ", first, ";"));
      e_.Line("const long long i = base + c + e0;");
      e_.Line("(void)e0; (void)i;");
      for (int k : loads) EmitLoad(k);
      return body([&](ExprEmitter& x) {
        x.SetSpecial([this, &x](const ExprNode& n) -> absl::StatusOr<std::optional<std::string>> {
          const auto it = exp_shift_.find(&n);
          if (it == exp_shift_.end()) return std::optional<std::string>();
          TF_ASSIGN_OR_RETURN(std::string a, x.Emit(n.args[0]->args[0]));
          return std::optional<std::string>(
              absl::StrCat("exp2f(fmaf(", ConvertKind(a, n.args[0]->args[0]->dtype, DType::kF32),
                           ", 1.4426950408889634f, ", it->second, "))"));
        });
        for (const auto& [node, name] : hoisted_) x.Define(node, name);
        for (const auto& [node, name] : kept_) x.Define(node, absl::StrCat(name, "[it][e0 + l]"));
      });
    };
    e_.Line("#pragma unroll");
    e_.Open("for (int it = 0; it < I; ++it) {");
    e_.Line(chunked_ ? "const long long c = at + s.col(it);" : "const long long c = s.col(it);");
    e_.Open("if (s.vec_ok) {");
    e_.Open("if (s.active && c < s.cols) {");
    TF_RETURN_IF_ERROR(block("V", "0"));
    e_.Close();
    e_.Reopen("} else {");
    e_.Line("#pragma unroll");
    e_.Open("for (int e = 0; e < V; ++e) {");
    e_.Line("if (!(s.active && c + e < s.cols)) break;");
    TF_RETURN_IF_ERROR(block("1", "e"));
    e_.Close();
    e_.Close();
    e_.Close();
    if (chunked_) {
      for (int k : chunk_full) cached_.erase(k);
      e_.Close();
    }
    return absl::OkStatus();
  }

  // Operand k at the elements from flat index i: a parameter over the columns (inner ==
  // cols, a norm's weight) is read at the column, without the remainder.
  void EmitLoad(int k) {
    if (spec_.operands[k].access != Access::kInner) {
      EmitOperandLoad(e_, spec_, k, "i");
      return;
    }
    e_.Line(absl::StrCat(ComputeTypeName(spec_.operands[k].dtype), " a", k, "[W];"));
    const std::string inner = InnerRef(spec_, k);
    e_.Line(absl::StrCat("tf::load_vec<W>(a", k, ", p.in", k, " + (", inner, " == s.cols ? c + e0 : tf::mod_index(i, ",
                         inner, ")));"));
  }

  std::string ElementLeaf(const ExprNode& leaf) const {
    if (leaf.kind == ExprKind::kTileValue && leaf.operand < kStageValue0) {
      return ConvertKind("tv[it][e0 + l]", DType::kF32, leaf.dtype);  // a GEMM's value (row epilogue)
    }
    if (leaf.kind == ExprKind::kTileValue || spec_.operands[leaf.operand].site == kReducedSite) return RowLeaf(leaf);
    if (cached_.count(leaf.operand)) return absl::StrCat("c", leaf.operand, "[it][e0 + l]");
    if (columns_.count(leaf.operand)) return absl::StrCat("h", leaf.operand, "[it][e0 + l]");
    return absl::StrCat("a", leaf.operand, "[l]");
  }

  // Whether a chunked row's stage j + 1, sum(exp(a - b)) with a the input of stage j,
  // amax(a) (or a's cast to f32), and b one value per row, can be folded into stage j's
  // pass (a softmax's or logsumexp's max and sum): each thread keeps a running sum of
  // exp(a - pivot), its pivot its running max (0 while that is infinite), rescaled when
  // the pivot moves, and scales it to b once b is known; one read of the row, not two.
  bool OnlineSum(int j) {
    if (!chunked_ || j + 1 >= static_cast<int>(spec_.stages.size())) return false;
    if (spec_.stages[j].op != 1 || spec_.stages[j + 1].op != 0) return false;
    const Expr& x = stage_inputs_[j];
    const Expr& e = stage_inputs_[j + 1];
    if (e->kind != ExprKind::kOp || e->op != PointwiseOp::kExp || e->dtype != DType::kF32) return false;
    const Expr& d = e->args[0];
    if (d->kind != ExprKind::kOp || d->op != PointwiseOp::kSub || d->dtype != DType::kF32) return false;
    const Expr& a = d->args[0];
    const bool same = a == x || (a->kind == ExprKind::kOp && a->op == PointwiseOp::kCast && a->args[0] == x &&
                                 ComputeKindOf(x->dtype) == ComputeKind::kFloat);
    return same && d->args[1]->dtype == DType::kF32 && RowLevel(d->args[1]);
  }

  // Stage j + 1 of an OnlineSum pair: each thread's running sum scaled from its pivot to
  // b, then combined over the row (a thread with nothing but -inf adds 0 where b is finite).
  absl::Status EmitOnlineSum(ExprEmitter& row, int j) {
    const Expr& b = stage_inputs_[j]->args[0]->args[1];
    std::set<const ExprNode*> seen;
    TF_RETURN_IF_ERROR(Hoist(row, b, seen));  // b alone: exp(a - b) is never computed here
    TF_ASSIGN_OR_RETURN(std::string bv, row.Emit(b));
    const std::string acc = absl::StrCat("acc", j), sum = absl::StrCat("osum", j - 1),
                      piv = absl::StrCat("opiv", j - 1);
    e_.Line(absl::StrCat("float ", acc, " = ", sum, " == 0.f && isfinite(", bv, ") ? 0.f : ", sum, " * exp2f((",
                         piv, " - ", bv, ") * 1.4426950408889634f);"));
    e_.Line(absl::StrCat(acc, " = tf::row_combine<H::kRowThreads>(", acc,
                         ", smem, [](float a, float b) { return tf::reduce_apply<0>(a, b); });"));
    e_.Line(absl::StrCat("const float r", j, " = ", acc, ";"));
    return absl::OkStatus();
  }

  absl::Status EmitStage(ExprEmitter& row, int j) {
    if (j > 0 && OnlineSum(j - 1)) return EmitOnlineSum(row, j);
    const RowStage& st = spec_.stages[j];
    const Expr& input = stage_inputs_[j];
    std::set<const ExprNode*> seen;
    TF_RETURN_IF_ERROR(Hoist(row, input, seen));
    const bool online = OnlineSum(j);
    const std::string osum = absl::StrCat("osum", j), opiv = absl::StrCat("opiv", j), onpl = absl::StrCat("onpl", j);
    if (online) {  // the running sum of exp(a - pivot), the pivot, and -pivot * log2(e)
      e_.Line(absl::StrCat("float ", osum, " = 0.f, ", opiv, " = 0.f, ", onpl, " = 0.f;"));
    }
    std::vector<std::pair<Expr, std::string>> arrays;  // Shared(j), each in an array
    for (const Expr& n : Shared(j)) {
      const std::string name = absl::StrCat("t", kept_.size() + arrays.size());
      e_.Line(absl::StrCat(ComputeTypeName(n->dtype), " ", name, "[I][V];"));
      arrays.emplace_back(n, name);
    }
    const int op = CombineOp(st.op);
    const std::string acc = absl::StrCat("acc", j);
    e_.Line(absl::StrCat("float ", acc, " = tf::reduce_identity<", op, ">();"));
    TF_RETURN_IF_ERROR(ForEachElement({input}, [&](const auto& define) -> absl::Status {
      if (online) e_.Line("float ov[W];  // the max's inputs, then the sum's");
      e_.Line("#pragma unroll");
      e_.Open("for (int l = 0; l < W; ++l) {");
      ExprEmitter x(e_, [this](const ExprNode& leaf) { return ElementLeaf(leaf); });
      define(x);
      TF_ASSIGN_OR_RETURN(std::string v, x.Emit(input));
      for (const auto& [node, name] : arrays) {
        TF_ASSIGN_OR_RETURN(std::string kv, x.Emit(node));
        e_.Line(absl::StrCat(name, "[it][e0 + l] = ", kv, ";"));
      }
      std::string f = ConvertKind(v, input->dtype, DType::kF32);
      if (st.op == 5) {
        e_.Line(absl::StrCat("const float d = ", f, " - r", st.about, ";"));
        f = "d * d";
      }
      e_.Line(absl::StrCat(acc, " = tf::reduce_apply<", op, ">(", acc, ", ", f, ");"));
      if (online) e_.Line(absl::StrCat("ov[l] = ", f, ";"));
      e_.Close();
      if (online) {  // a pivot check per vector
        e_.Line(absl::StrCat("const float pn = isinf(", acc, ") ? 0.f : ", acc, ";"));
        e_.Open(absl::StrCat("if (pn != ", opiv, ") {  // the pivot moves (rarely): rescale the sum"));
        e_.Line(absl::StrCat("if (", osum, " != 0.f) ", osum, " *= exp2f((", opiv, " - pn) * 1.4426950408889634f);"));
        e_.Line(absl::StrCat(opiv, " = pn;"));
        e_.Line(absl::StrCat(onpl, " = -pn * 1.4426950408889634f;"));
        e_.Close();
        e_.Line("#pragma unroll");
        e_.Line(absl::StrCat("for (int l = 0; l < W; ++l) ", osum, " += exp2f(fmaf(ov[l], 1.4426950408889634f, ", onpl,
                             "));"));
      }
      return absl::OkStatus();
    }));
    e_.Line(absl::StrCat(acc, " = tf::row_combine<", gemm_ ? "32" : "H::kRowThreads", ">(", acc,
                         ", smem, [](float a, float b) { return tf::reduce_apply<", op, ">(a, b); });"));
    if (cluster_) {  // this CTA's partial, combined over the cluster in the next phase
      e_.Line(absl::StrCat("if (s.t == 0) rpart[", j, "][rl] = ", acc, ";"));
      return absl::OkStatus();
    }
    e_.Line(absl::StrCat("const float r", j, " = ", StageValue(st, acc), ";"));
    for (auto& [node, name] : arrays) kept_[node.get()] = name;
    return absl::OkStatus();
  }

  // Outputs of the reduced site: computed by every thread, stored by the row's first.
  absl::Status EmitRowOutputs(ExprEmitter& row) {
    std::vector<std::pair<size_t, std::string>> values;
    for (size_t j = 0; j < spec_.outputs.size(); ++j) {
      if (spec_.outputs[j].site != kReducedSite) continue;
      TF_ASSIGN_OR_RETURN(std::string v, row.Emit(outputs_[j]));
      values.emplace_back(j, ConvertKind(v, outputs_[j]->dtype, spec_.outputs[j].dtype));
    }
    if (values.empty()) return absl::OkStatus();
    e_.Open(cluster_ ? "if (s.active && s.t == 0 && tf::cluster_rank() == 0) {" : "if (s.active && s.t == 0) {");
    for (const auto& [j, v] : values) {
      e_.Line(absl::StrCat("const ", ComputeTypeName(spec_.outputs[j].dtype), " o", j, "[1] = {", v, "};"));
      e_.Line(absl::StrCat("tf::store_vec<1>(p.out", j, " + s.row, o", j, ");"));
    }
    e_.Close();
    return absl::OkStatus();
  }

  absl::Status EmitElementOutputs(ExprEmitter& row) {
    std::vector<Expr> exprs;
    std::set<const ExprNode*> seen;
    for (size_t j = 0; j < spec_.outputs.size(); ++j) {
      if (spec_.outputs[j].site != kEpilogueSite) continue;
      exprs.push_back(outputs_[j]);
      TF_RETURN_IF_ERROR(Hoist(row, outputs_[j], seen));
    }
    if (exprs.empty()) return absl::OkStatus();
    return ForEachElement(exprs, [&](const auto& define) -> absl::Status {
      for (size_t j = 0; j < spec_.outputs.size(); ++j) {
        if (spec_.outputs[j].site != kEpilogueSite) continue;
        e_.Line(absl::StrCat(ComputeTypeName(spec_.outputs[j].dtype), " o", j, "[W];"));
      }
      e_.Line("#pragma unroll");
      e_.Open("for (int l = 0; l < W; ++l) {");
      ExprEmitter x(e_, [this](const ExprNode& leaf) { return ElementLeaf(leaf); });
      define(x);
      for (size_t j = 0; j < spec_.outputs.size(); ++j) {
        const OutputSpec& o = spec_.outputs[j];
        if (o.site != kEpilogueSite) continue;
        const Expr& value = outputs_[j];
        TF_ASSIGN_OR_RETURN(std::string v, x.Emit(value));
        e_.Line(absl::StrCat("o", j, "[l] = ", ConvertKind(v, value->dtype, o.dtype), ";"));
      }
      e_.Close();
      for (size_t j = 0; j < spec_.outputs.size(); ++j) {
        if (spec_.outputs[j].site != kEpilogueSite) continue;
        e_.Line(absl::StrCat("tf::store_vec<W>(p.out", j, " + i, o", j, ");"));
      }
      return absl::OkStatus();
    });
  }

  Emitter& e_;
  const KernelSpec& spec_;
  std::vector<Expr> stage_inputs_;  // rewritten (Rewrite), per stage
  std::vector<Expr> outputs_;       // rewritten, per output
  std::set<int> cached_;            // operands held in registers
  std::set<int> columns_;           // a GEMM row epilogue's operands over columns, read once
  int cached_floats_ = 0;           // registers they and kept_ take per thread
  int per_ = 0;                     // registers one held array takes per thread
  bool gemm_ = false;               // a GEMM's row epilogue (Body)
  bool cluster_ = false;            // one phase of a row cluster's epilogue (ClusterPhase)
  bool chunked_ = false;            // a row kernel walking its rows in chunks (RowConfig::chunked)
  std::map<const ExprNode*, std::string> kept_;  // values held in registers: array names
  std::map<const ExprNode*, Expr> rewritten_;
  std::map<const ExprNode*, bool> row_level_;
  std::map<const ExprNode*, std::string> hoisted_;
  std::map<const ExprNode*, std::string> exp_shift_;  // exp(a - b) nodes: the name of -b * log2(e)
};

}  // namespace

absl::StatusOr<std::string> GenerateRowGlue(const KernelSpec& spec, const std::string& entry_name) {
  Emitter e;
  EmitHooksPreamble(e, spec, entry_name);
  e.Line(absl::StrCat("static constexpr int kThreads = ", spec.row.threads, ";"));
  e.Line(absl::StrCat("static constexpr int kRowThreads = ", spec.row.row_threads, ";"));
  e.Line(absl::StrCat("static constexpr int kLoop = ", spec.row.loop, ";"));
  e.Line(absl::StrCat("static constexpr int kVecs = ", spec.row.vecs, ";"));
  e.Close("};");
  e.Close(absl::StrCat("}  // namespace ", entry_name, "_ns"));
  e.Blank();
  e.Open(absl::StrCat("extern \"C\" __global__ void __launch_bounds__(", spec.row.threads, ") ", entry_name,
                      "(const ", entry_name, "_ns::Params p) {"));
  e.Line(absl::StrCat("using namespace ", entry_name, "_ns;"));
  e.Line("tf::grid_dependency_wait();  // Plan::Run's overlapped launches");
  RowGen gen(e, spec);
  TF_RETURN_IF_ERROR(gen.Body(false));
  e.Close();
  return e.Finish();
}

absl::Status EmitGemmRowEpilogue(Emitter& e, const KernelSpec& spec) {
  e.Line("template <int BM, int BN, int kThreads>");
  e.Open("static __device__ __forceinline__ void row_epilogue(const Params& p, const float* ctile, const float* extra, "
         "long long m0, long long n0, long long M, long long N, int tid) {");
  // A row's 32 lanes take its columns in vectors of V: lane t columns n0 + t V .. + V - 1,
  // then 32 V on, ... (V: the widest the tile's columns split into evenly, at most the
  // kernel's vector; vectors where Params::vector_ok holds, else element by element), over
  // the CTA's T tiles of BN columns (GemmConfig::row_tiles), IT iterations each.
  int v = 1;
  while (2 * v <= spec.Vec() && spec.gemm.bn % (64 * v) == 0) v *= 2;
  e.Line(absl::StrCat("constexpr int V = ", v, ", T = ", spec.gemm.row_tiles, ", IT = BN / (32 * V), I = T * IT;"));
  e.Line("(void)extra;");
  e.Open("struct Span {");
  e.Line("long long row, cols, n0;");
  e.Line("int t;");
  e.Line("bool active, vec_ok;");
  e.Line("__device__ long long col(int it) const { return n0 + (static_cast<long long>(it) * 32 + t) * V; }");
  e.Close("};");
  e.Line("static_assert(BN % (32 * V) == 0, \"a warp's vectors cover the tile's columns\");");
  e.Line("float* smem = nullptr;");
  e.Line("(void)smem;");
  if (spec.gemm.row_cluster <= 1) {
    RowGen gen(e, spec);
    TF_RETURN_IF_ERROR(gen.Body(true));
  } else {
    // Each stage's partial per row of this CTA's columns, read by the cluster's CTAs, and
    // its value over the whole row.
    e.Line(absl::StrCat("__shared__ float rpart[", spec.stages.size(), "][BM], rfull[", spec.stages.size(), "][BM];"));
    for (size_t phase = 0; phase <= spec.stages.size(); ++phase) {
      e.Open("{  // a phase's names are its own");
      RowGen gen(e, spec);
      TF_RETURN_IF_ERROR(gen.ClusterPhase(static_cast<int>(phase)));
      e.Close();
    }
  }
  e.Close();
  return absl::OkStatus();
}

}  // namespace tilefuse::internal
