#include "runtime/tools/npy.h"

#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/graph/read_file.h"
#include "runtime/graph/shape.h"
#include "kernels/tf_math.cuh"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

// What WriteNpy writes: NumPy's own dtypes, so any reader takes the file. bf16 and the f8
// types widen to f32 (exactly); i4 is written one element per byte.
std::string Descr(DType t) {
  switch (t) {
    case DType::kF32: case DType::kBF16: case DType::kF8E4M3: case DType::kF8E5M2: return "<f4";
    case DType::kF16: return "<f2";
    case DType::kI32: return "<i4";
    case DType::kBool: return "|b1";
    case DType::kI8: case DType::kI4: return "|i1";
  }
  return "?";
}

// The file dtypes ReadNpy takes for a tensor of `want`: the storage layout itself (copied),
// or a wider one converted element by element (rounded as a store rounds). ml_dtypes writes
// bfloat16 as '<V2' and its 1-byte types (float8_e4m3fn, float8_e5m2, int4) as '|V1': the
// graph's dtype says which; an ml_dtypes int4 byte holds one element in its low nibble.
struct NpyIn {
  const char* descr;
  bool raw;
};
std::vector<NpyIn> Accepted(DType want) {
  switch (want) {
    case DType::kF32: return {{"<f4", true}};
    case DType::kF16: return {{"<f2", true}};
    case DType::kBF16: return {{"<V2", true}, {"<f4", false}};
    case DType::kI32: return {{"<i4", true}};
    case DType::kBool: return {{"|b1", true}, {"|u1", true}};
    case DType::kF8E4M3: case DType::kF8E5M2: return {{"|V1", true}, {"<f4", false}};
    case DType::kI8: return {{"|i1", true}};
    case DType::kI4: return {{"|i1", false}, {"|V1", false}};
  }
  return {};
}

// Element i of a file body in `descr`, for the conversions Accepted lists.
double NpyElement(absl::string_view body, absl::string_view descr, int64_t i) {
  if (descr == "<f4") {
    float v;
    std::memcpy(&v, body.data() + i * 4, 4);
    return v;
  }
  if (descr == "|i1") return static_cast<int8_t>(body[i]);
  return tf::wrap_i4(static_cast<unsigned char>(body[i]));  // '|V1' read as int4
}

// The value of `key` in the header dict, e.g. "'<f4'" or "(3, 4)"; empty when absent.
std::string Field(absl::string_view header, absl::string_view key) {
  const size_t k = header.find(absl::StrCat("'", key, "'"));
  if (k == absl::string_view::npos) return "";
  size_t v = header.find(':', k);
  if (v == absl::string_view::npos) return "";
  ++v;
  while (v < header.size() && header[v] == ' ') ++v;
  if (v >= header.size()) return "";
  const char open = header[v];
  const char close = open == '(' ? ')' : open == '\'' ? '\'' : ',';
  const size_t end = header.find(close, v + 1);
  if (end == absl::string_view::npos) return "";
  return std::string(header.substr(v, end - v + (close == ',' ? 0 : 1)));
}

}  // namespace

absl::StatusOr<HostTensor> ReadNpy(const std::string& path, DType want) {
  TF_ASSIGN_OR_RETURN(const std::string s, ReadTextFile(path, kMaxNpyBytes, ".npy file"));
  const auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
  };
  if (s.size() < 10 || s.compare(0, 6, "\x93NUMPY") != 0) return bad("not a .npy file");
  const int major = static_cast<unsigned char>(s[6]), minor = static_cast<unsigned char>(s[7]);
  if (major < 1 || major > 3 || minor != 0) {
    return bad(absl::StrCat("format version ", major, ".", minor, " (expected 1.0, 2.0 or 3.0)"));
  }
  size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(s[8]) | (static_cast<unsigned char>(s[9]) << 8);
    offset = 10;
  } else {
    if (s.size() < 12) return bad("truncated header");
    uint32_t len;
    std::memcpy(&len, s.data() + 8, 4);
    header_len = len;
    offset = 12;
  }
  if (header_len > s.size() - offset) return bad("truncated header");
  const absl::string_view header(s.data() + offset, header_len);
  if (header.empty() || header[0] != '{') return bad("the header is not a dict");
  const std::string order = Field(header, "fortran_order");
  if (order.rfind("True", 0) == 0) return bad("Fortran order is not supported");
  if (order.rfind("False", 0) != 0) return bad("the header has no 'fortran_order'");
  const std::string descr_field = Field(header, "descr");
  if (descr_field.size() < 2) return bad("the header has no 'descr'");
  const std::string descr = descr_field.substr(1, descr_field.size() - 2);
  const std::string shape_field = Field(header, "shape");
  if (shape_field.size() < 2 || shape_field[0] != '(') return bad("the header has no 'shape' tuple");
  const std::string shape_text = shape_field.substr(1, shape_field.size() - 2);
  HostTensor t;
  t.dtype = want;
  int64_t n = 1;
  for (absl::string_view d : absl::StrSplit(shape_text, ',', absl::SkipWhitespace())) {
    int64_t v;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(d), &v) || v < 0) {
      return bad(absl::StrCat("bad shape (", shape_text, "): dims are integers >= 0"));
    }
    if (t.shape.size() == static_cast<size_t>(kMaxRank) || __builtin_mul_overflow(n, v, &n) ||
        n > (int64_t{1} << kMaxNumelLog2)) {
      return bad(absl::StrCat("shape (", shape_text, ") has more than ", kMaxRank, " dims or 2^", kMaxNumelLog2,
                              " elements"));
    }
    t.shape.push_back(v);
  }
  const absl::string_view body(s.data() + offset + header_len, s.size() - offset - header_len);
  const std::vector<NpyIn> accepted = Accepted(want);
  const NpyIn* in = nullptr;
  for (const NpyIn& a : accepted) {
    if (descr == a.descr) in = &a;
  }
  if (in == nullptr) {
    std::vector<std::string> names;
    for (const NpyIn& a : accepted) names.push_back(absl::StrCat("'", a.descr, "'"));
    return bad(absl::StrCat("array dtype '", descr, "' does not fit a ", DTypeName(want), " tensor (expected ",
                            absl::StrJoin(names, " or "), ")"));
  }
  // Checked against the file before anything of that size is allocated.
  const uint64_t item = descr.back() == '4' ? 4 : descr.back() == '2' ? 2 : 1;
  if (body.size() != static_cast<uint64_t>(n) * item) {
    return bad(absl::StrCat("the data holds ", body.size(), " bytes; shape (", shape_text, ") of '", descr, "' needs ",
                            static_cast<uint64_t>(n) * item));
  }
  t.bytes.assign(static_cast<size_t>(StorageBytes(want, n)), 0);
  if (in->raw) {
    if (n > 0) std::memcpy(t.bytes.data(), body.data(), t.bytes.size());
    return t;
  }
  for (int64_t i = 0; i < n; ++i) t.Set(i, NpyElement(body, descr, i));
  return t;
}

absl::Status WriteNpy(const std::string& path, const HostTensor& t) {
  // "(3, 4)", but "(3,)" for one dim and "()" for none, as NumPy writes tuples.
  std::string shape = absl::StrJoin(t.shape, ", ");
  if (t.shape.size() == 1) shape += ",";
  std::string header = absl::StrCat("{'descr': '", Descr(t.dtype),
                                    "', 'fortran_order': False, 'shape': (", shape, "), }");
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(1);
  out += static_cast<char>(0);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  if (t.dtype == DType::kBF16 || IsFloat8(t.dtype)) {
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float v = static_cast<float>(t.Get(i));
      out.append(reinterpret_cast<const char*>(&v), 4);
    }
  } else if (t.dtype == DType::kI4) {
    for (int64_t i = 0; i < t.numel(); ++i) out += static_cast<char>(static_cast<int8_t>(t.Get(i)));
  } else {
    out.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  }
  std::ofstream f(path, std::ios::binary);
  f << out;
  if (!f) return absl::PermissionDeniedError(absl::StrCat("cannot write '", path, "'"));
  return absl::OkStatus();
}

}  // namespace tilefuse::internal
