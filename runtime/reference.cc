#include "runtime/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/tf_math.cuh"
#include "runtime/reference_ops.h"
#include "runtime/graph/promotion.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {

HostTensor HostTensor::Zeros(DType dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.bytes.assign(static_cast<size_t>(StorageBytes(dtype, t.numel())), 0);
  return t;
}

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

double HostTensor::Get(int64_t i) const {
  if (dtype == DType::kI4) return tf::i4_elem(bytes[i / 2], static_cast<int>(i & 1));
  const uint8_t* p = bytes.data() + i * DTypeSize(dtype);
  switch (dtype) {
    case DType::kF32: { float f; std::memcpy(&f, p, 4); return f; }
    case DType::kI32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case DType::kBF16: { tf::bf16_t h; std::memcpy(&h.bits, p, 2); return tf::to_float(h); }
    case DType::kF16: { tf::half_t h; std::memcpy(&h.bits, p, 2); return tf::to_float(h); }
    case DType::kBool: return *p != 0 ? 1.0 : 0.0;
    case DType::kF8E4M3: return tf::to_float(tf::f8e4m3_t{*p});
    case DType::kF8E5M2: return tf::to_float(tf::f8e5m2_t{*p});
    case DType::kI8: return static_cast<int8_t>(*p);
    case DType::kI4: break;
  }
  return 0;
}

void HostTensor::Set(int64_t i, double v) {
  if (dtype == DType::kI4) {
    const int q = tf::wrap_i4(v >= 2147483647.0 ? 2147483647 : v <= -2147483648.0 ? (-2147483647 - 1)
                                                                                   : static_cast<int>(v == v ? v : 0));
    const int shift = 4 * static_cast<int>(i & 1);
    bytes[i / 2] = static_cast<uint8_t>((bytes[i / 2] & ~(0xf << shift)) | ((q & 0xf) << shift));
    return;
  }
  uint8_t* p = bytes.data() + i * DTypeSize(dtype);
  switch (dtype) {
    case DType::kF32: { const float f = static_cast<float>(v); std::memcpy(p, &f, 4); break; }
    case DType::kI32: {
      // Saturating truncation, like tf::to_int, but from double so large ints stay exact.
      const int32_t x = !(v == v) ? 0 : v >= 2147483647.0 ? 2147483647
                                      : v <= -2147483648.0 ? (-2147483647 - 1) : static_cast<int32_t>(v);
      std::memcpy(p, &x, 4);
      break;
    }
    case DType::kBF16: { const tf::bf16_t h = tf::to_bf16(static_cast<float>(v)); std::memcpy(p, &h.bits, 2); break; }
    case DType::kF16: { const tf::half_t h = tf::to_half(static_cast<float>(v)); std::memcpy(p, &h.bits, 2); break; }
    case DType::kBool: *p = v != 0 ? 1 : 0; break;
    case DType::kF8E4M3: *p = tf::to_f8e4m3(static_cast<float>(v)).bits; break;
    case DType::kF8E5M2: *p = tf::to_f8e5m2(static_cast<float>(v)).bits; break;
    case DType::kI8: {  // low 8 bits of the saturated int, as Store<signed char> keeps them
      const int x = !(v == v) ? 0 : v >= 2147483647.0 ? 2147483647 : v <= -2147483648.0 ? (-2147483647 - 1)
                                                                                       : static_cast<int>(v);
      *p = static_cast<uint8_t>(x & 0xff);
      break;
    }
    case DType::kI4: break;
  }
}

namespace {

struct Value {
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<Scalar> data;
};

// Per-dim strides of `in` broadcast to `out` (0 on broadcast dims), right-aligned.
std::vector<int64_t> BroadcastStrides(const std::vector<int64_t>& in, const std::vector<int64_t>& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t acc = 1;
  for (int d = static_cast<int>(in.size()) - 1; d >= 0; --d) {
    const size_t od = out.size() - in.size() + d;
    strides[od] = in[d] == 1 && out[od] != 1 ? 0 : acc;
    acc *= in[d];
  }
  return strides;
}

int64_t NumelOf(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

absl::StatusOr<Value> EvalPointwise(const Node& n, const Graph& g, const std::vector<Value>& vals) {
  Value out;
  out.dtype = n.dtype;
  for (int in : n.inputs) {
    const auto& s = vals[in].shape;
    if (s.size() > out.shape.size()) out.shape.insert(out.shape.begin(), s.size() - out.shape.size(), 1);
    for (size_t d = 0; d < s.size(); ++d) {
      int64_t& o = out.shape[out.shape.size() - s.size() + d];
      if (o == 1) o = s[d];
    }
  }
  const int64_t total = NumelOf(out.shape);
  out.data.resize(total);
  std::vector<std::vector<int64_t>> strides;
  for (int in : n.inputs) strides.push_back(BroadcastStrides(vals[in].shape, out.shape));
  std::vector<int64_t> idx(out.shape.size(), 0);
  std::vector<Scalar> args(n.inputs.size());
  std::vector<DType> arg_dtypes, want(n.inputs.size());
  for (int in : n.inputs) arg_dtypes.push_back(vals[in].dtype);
  for (size_t k = 0; k < n.inputs.size(); ++k) want[k] = OperandDType(n.pointwise, n.dtype, arg_dtypes, k);
  for (int64_t e = 0; e < total; ++e) {
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      int64_t off = 0;
      for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * strides[k][d];
      const Value& v = vals[n.inputs[k]];
      args[k] = Convert(v.data[off], v.dtype, want[k]);
    }
    TF_ASSIGN_OR_RETURN(out.data[e],
                        ApplyPointwise(n.pointwise, n.attrs, n.dtype, args.data(), want.empty() ? n.dtype : want[0]));
    for (int d = static_cast<int>(idx.size()) - 1; d >= 0; --d) {
      if (++idx[d] < out.shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

Value EvalTranspose(const Value& x, int a, int b) {
  Value out = x;
  std::swap(out.shape[a], out.shape[b]);
  const int64_t total = NumelOf(x.shape);
  std::vector<int64_t> in_strides(x.shape.size(), 1);
  for (int d = static_cast<int>(x.shape.size()) - 2; d >= 0; --d) {
    in_strides[d] = in_strides[d + 1] * x.shape[d + 1];
  }
  std::swap(in_strides[a], in_strides[b]);
  std::vector<int64_t> idx(out.shape.size(), 0);
  for (int64_t e = 0; e < total; ++e) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * in_strides[d];
    out.data[e] = x.data[off];
    for (int d = static_cast<int>(idx.size()) - 1; d >= 0; --d) {
      if (++idx[d] < out.shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

// A permute, slice, narrow, select, expand or flip of `x` (attrs normalized by AddView),
// element by element: each output index mapped to the input index it reads.
Value EvalIndexView(const Node& n, const Value& x, const std::vector<int64_t>& out_shape) {
  Value out;
  out.dtype = x.dtype;
  out.shape = out_shape;
  const int64_t total = NumelOf(out_shape);
  out.data.resize(total);
  std::vector<int64_t> in_strides(x.shape.size(), 1);
  for (int d = static_cast<int>(x.shape.size()) - 2; d >= 0; --d) in_strides[d] = in_strides[d + 1] * x.shape[d + 1];
  const Attrs& a = n.attrs;
  std::vector<int64_t> idx(out_shape.size(), 0), src(x.shape.size(), 0);
  for (int64_t e = 0; e < total; ++e) {
    switch (n.view) {
      case ViewOp::kPermute:
        for (size_t i = 0; i < idx.size(); ++i) src[a.dims[i]] = idx[i];
        break;
      case ViewOp::kSlice:
      case ViewOp::kNarrow:
        src = idx;
        src[*a.dim] = *a.start + idx[*a.dim] * a.step.value_or(1);
        break;
      case ViewOp::kSelect:
        for (size_t i = 0, j = 0; i < src.size(); ++i) src[i] = static_cast<int>(i) == *a.dim ? *a.index : idx[j++];
        break;
      case ViewOp::kExpand: {
        const size_t lead = idx.size() - src.size();
        for (size_t i = 0; i < src.size(); ++i) src[i] = x.shape[i] == 1 ? 0 : idx[lead + i];
        break;
      }
      case ViewOp::kFlip:
        src = idx;
        for (int d : a.dims) src[d] = x.shape[d] - 1 - idx[d];
        break;
      case ViewOp::kTranspose:
      case ViewOp::kReshape:
        break;
    }
    int64_t off = 0;
    for (size_t d = 0; d < src.size(); ++d) off += src[d] * in_strides[d];
    out.data[e] = x.data[off];
    for (int d = static_cast<int>(idx.size()) - 1; d >= 0; --d) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

// C = A x B with the operands rounded to their dtype (as the tensor cores see them) and
// the products summed in double.
// start + step * (index along dim), computed in double and rounded once to the dtype.
Value EvalIota(const Node& n, const std::vector<int64_t>& shape) {
  Value out;
  out.dtype = n.dtype;
  out.shape = shape;
  const int64_t total = NumelOf(shape);
  out.data.resize(total);
  int64_t inner = 1;
  for (size_t d = *n.attrs.dim + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t len = shape[*n.attrs.dim];
  for (int64_t e = 0; e < total; ++e) {
    const int64_t c = len == 0 ? 0 : e / inner % len;
    out.data[e] = FromDouble(static_cast<double>(*n.attrs.start) + static_cast<double>(*n.attrs.step) * c, n.dtype);
  }
  return out;
}

// torch.gather, indices clamped into the input's axis.
Value EvalGather(const Node& n, const Value& x, const Value& index) {
  Value out;
  out.dtype = x.dtype;
  out.shape = index.shape;
  const int64_t total = NumelOf(index.shape);
  out.data.resize(total);
  const int rank = static_cast<int>(x.shape.size()), dim = *n.attrs.dim;
  std::vector<int64_t> in_strides(rank, 1);
  for (int d = rank - 2; d >= 0; --d) in_strides[d] = in_strides[d + 1] * x.shape[d + 1];
  std::vector<int64_t> idx(rank, 0);
  for (int64_t e = 0; e < total; ++e) {
    int64_t off = 0;
    for (int d = 0; d < rank; ++d) {
      int64_t c = idx[d];
      if (d == dim) c = std::clamp<int64_t>(index.data[e].i, 0, std::max<int64_t>(x.shape[d] - 1, 0));
      off += c * in_strides[d];
    }
    out.data[e] = x.data[off];
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < index.shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

Value EvalMatmul(const Node& n, const std::vector<Value>& vals) {
  const Value& a = vals[n.inputs[0]];
  const Value& b = vals[n.inputs[1]];
  const size_t rank = a.shape.size();
  const int64_t m = a.shape[rank - 2], k = a.shape[rank - 1], nn = b.shape[rank - 1];
  int64_t batches = 1;  // a batched matmul's leading dims (equal on both operands)
  for (size_t d = 0; d + 2 < rank; ++d) batches *= a.shape[d];
  const DType t = n.dtype;
  const auto rounded = [&](const Value& v, int64_t i) {
    const float f = Convert(v.data[i], v.dtype, DType::kF32).f;
    return t == DType::kBF16 ? tf::round_bf16(f) : t == DType::kF16 ? tf::round_half(f) : f;
  };
  Value out;
  out.dtype = t;
  out.shape = a.shape;
  out.shape.back() = nn;
  out.data.resize(batches * m * nn);
  std::vector<float> bt(k * nn);  // B as [N, K]: each output walks contiguous memory
  std::vector<float> row(k);
  for (int64_t z = 0; z < batches; ++z) {
    const int64_t a0 = z * m * k, b0 = z * k * nn, c0 = z * m * nn;
    for (int64_t i = 0; i < k * nn; ++i) bt[(i % nn) * k + i / nn] = rounded(b, b0 + i);
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t c = 0; c < k; ++c) row[c] = rounded(a, a0 + r * k + c);
      for (int64_t c = 0; c < nn; ++c) {
        out.data[c0 + r * nn + c].f = static_cast<float>(Dot(row.data(), &bt[c * k], k));
      }
    }
  }
  return out;
}

// One axis (or every element), viewed as [outer, R, inner].
Value EvalReduce(const Node& n, const std::vector<Value>& vals) {
  const Value& x = vals[n.inputs[0]];
  int64_t outer = 1, r = 1, inner = 1;
  for (size_t d = 0; d < x.shape.size(); ++d) {
    if (!n.attrs.dim || static_cast<int>(d) == *n.attrs.dim) r *= x.shape[d];
    else if (static_cast<int>(d) < *n.attrs.dim) outer *= x.shape[d];
    else inner *= x.shape[d];
  }
  Value out;
  out.dtype = n.dtype;
  for (int64_t i = 0; i < outer * inner; ++i) {
    const int64_t base = (i / inner) * r * inner + i % inner;
    const float v = ReduceValues(static_cast<int>(n.reduce), r, [&](int64_t k) {
      return Convert(x.data[base + k * inner], x.dtype, DType::kF32).f;
    }, n.attrs.correction.value_or(1));
    Scalar s;
    if (ComputeKindOf(n.dtype) == ComputeKind::kFloat) s.f = v; else s.i = static_cast<int>(v);
    out.data.push_back(s);
  }
  for (size_t d = 0; d < x.shape.size(); ++d) {
    if (!n.attrs.dim || static_cast<int>(d) == *n.attrs.dim) {
      if (n.attrs.keepdim) out.shape.push_back(1);
    } else {
      out.shape.push_back(x.shape[d]);
    }
  }
  return out;
}

// Row-wise tile ops over the last dim, fp32 statistics.
absl::StatusOr<Value> EvalRowwise(const Node& n, const std::vector<Value>& vals) {
  const Value& x = vals[n.inputs[0]];
  Value out;
  out.dtype = n.dtype;
  out.shape = x.shape;
  out.data.resize(x.data.size());
  const int64_t cols = x.shape.empty() ? 1 : x.shape.back();
  const int64_t rows = cols == 0 ? 0 : static_cast<int64_t>(x.data.size()) / cols;
  const auto param = [&](size_t k, int64_t c) {
    const Value& v = vals[n.inputs[k]];
    return Convert(v.data[c], v.dtype, DType::kF32).f;
  };
  const float eps = static_cast<float>(n.attrs.eps.value_or(0));
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> row(cols);
    for (int64_t c = 0; c < cols; ++c) row[c] = Convert(x.data[r * cols + c], x.dtype, DType::kF32).f;
    Scalar* y = &out.data[r * cols];
    if (n.custom != nullptr) {
      if (!n.custom->reference) {
        return absl::UnimplementedError(absl::StrCat("reference: registered kernel '", n.custom->name,
                                                     "' has no host reference"));
      }
      std::vector<std::vector<float>> params(n.inputs.size() - 1, std::vector<float>(cols));
      std::vector<const float*> ptrs;
      for (size_t k = 1; k < n.inputs.size(); ++k) {
        for (int64_t c = 0; c < cols; ++c) params[k - 1][c] = param(k, c);
        ptrs.push_back(params[k - 1].data());
      }
      std::vector<float> yr(cols);
      n.custom->reference(row.data(), ptrs, cols, yr.data());
      for (int64_t c = 0; c < cols; ++c) y[c].f = yr[c];
    } else if (n.tile == TileOp::kRmsNorm) {
      float ss = 0;
      for (float v : row) ss += v * v;
      const float inv = 1.0f / std::sqrt(ss / static_cast<float>(cols) + eps);
      for (int64_t c = 0; c < cols; ++c) y[c].f = row[c] * inv * param(1, c);
    } else if (n.tile == TileOp::kLayerNorm) {
      float sum = 0, sq = 0;
      for (float v : row) sum += v;
      const float mean = sum / static_cast<float>(cols);
      for (float v : row) sq += (v - mean) * (v - mean);
      const float inv = 1.0f / std::sqrt(sq / static_cast<float>(cols) + eps);
      for (int64_t c = 0; c < cols; ++c) y[c].f = (row[c] - mean) * inv * param(1, c) + param(2, c);
    } else if (n.tile == TileOp::kSoftmax) {
      float m = -INFINITY, sum = 0;
      for (float v : row) m = std::max(m, v);
      for (float& v : row) sum += (v = std::exp(v - m));
      for (int64_t c = 0; c < cols; ++c) y[c].f = row[c] / sum;
    } else {
      return absl::UnimplementedError(absl::StrCat("reference: tile op '", n.OpString(), "'"));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<HostTensor>> EvaluateReference(const Graph& g,
                                                          const std::vector<HostTensor>& inputs) {
  if (inputs.size() != g.inputs().size()) {
    return absl::InvalidArgumentError(absl::StrCat("reference: ", inputs.size(),
                                                   " inputs given, graph has ", g.inputs().size()));
  }
  std::vector<int64_t> symbols(g.symbols().size(), -1);
  std::vector<Value> vals(g.nodes().size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Node& n = g.node(g.inputs()[k]);
    const HostTensor& t = inputs[k];
    if (t.dtype != n.dtype || t.shape.size() != n.shape.size()) {
      return absl::InvalidArgumentError(absl::StrCat("reference: input '", n.name,
                                                     "' has the wrong dtype or rank"));
    }
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (!n.shape[d].is_static()) symbols[n.shape[d].symbol] = t.shape[d];
    }
    Value& v = vals[n.id];
    v.dtype = t.dtype;
    v.shape = t.shape;
    v.data.resize(t.numel());
    for (int64_t i = 0; i < t.numel(); ++i) v.data[i] = FromDouble(t.Get(i), t.dtype);
  }
  for (const Node& n : g.nodes()) {
    Value& v = vals[n.id];
    switch (n.kind) {
      case NodeKind::kInput:
        break;
      case NodeKind::kConstant:
        v.dtype = n.dtype;
        v.data = {FromDouble(n.constant, n.dtype)};
        break;
      case NodeKind::kPointwise: {
        TF_ASSIGN_OR_RETURN(v, EvalPointwise(n, g, vals));
        break;
      }
      case NodeKind::kView:
        if (n.view == ViewOp::kTranspose) {
          v = EvalTranspose(vals[n.inputs[0]], *n.attrs.dim0, *n.attrs.dim1);
        } else {
          std::vector<int64_t> shape;
          for (const Dim& d : n.shape) shape.push_back(d.is_static() ? d.value : symbols[d.symbol]);
          if (n.view == ViewOp::kReshape) {
            v = vals[n.inputs[0]];
            v.shape = std::move(shape);
          } else {
            v = EvalIndexView(n, vals[n.inputs[0]], shape);
          }
        }
        break;
      case NodeKind::kTile: {
        if (n.custom == nullptr && n.tile == TileOp::kMatmul) {
          v = EvalMatmul(n, vals);
        } else {
          TF_ASSIGN_OR_RETURN(v, EvalRowwise(n, vals));
        }
        break;
      }
      case NodeKind::kReduce:
        v = EvalReduce(n, vals);
        break;
      case NodeKind::kIota: {
        std::vector<int64_t> shape;
        for (const Dim& d : n.shape) shape.push_back(d.is_static() ? d.value : symbols[d.symbol]);
        v = EvalIota(n, shape);
        break;
      }
      case NodeKind::kGather:
        v = EvalGather(n, vals[n.inputs[0]], vals[n.inputs[1]]);
        break;
    }
  }
  std::vector<HostTensor> outs;
  for (int o : g.outputs()) {
    const Value& v = vals[o];
    HostTensor t = HostTensor::Zeros(v.dtype, v.shape);
    for (int64_t i = 0; i < t.numel(); ++i) {
      const Scalar s = v.data[i];
      t.Set(i, ComputeKindOf(v.dtype) == ComputeKind::kFloat ? static_cast<double>(s.f) : s.i);
    }
    outs.push_back(std::move(t));
  }
  return outs;
}

}  // namespace tilefuse::internal
