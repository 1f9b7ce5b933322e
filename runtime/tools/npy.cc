#include "runtime/tools/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tilefuse {
namespace {

std::string Descr(DType t) {
  switch (t) {
    case DType::kF32: case DType::kBF16: return "<f4";
    case DType::kF16: return "<f2";
    case DType::kI32: return "<i4";
    case DType::kBool: return "|b1";
  }
  return "?";
}

// The value of `key` in the header dict, e.g. "'<f4'" or "(3, 4)".
std::string Field(const std::string& header, const std::string& key) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return "";
  size_t v = header.find(':', k) + 1;
  while (v < header.size() && header[v] == ' ') ++v;
  const char open = header[v];
  const char close = open == '(' ? ')' : open == '\'' ? '\'' : ',';
  const size_t end = header.find(close, v + 1);
  return header.substr(v, end == std::string::npos ? std::string::npos : end - v + 1);
}

}  // namespace

absl::StatusOr<HostTensor> ReadNpy(const std::string& path, DType want) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return absl::NotFoundError(absl::StrCat("cannot open '", path, "'"));
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string s = ss.str();
  const auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
  };
  if (s.size() < 10 || s.compare(0, 6, "\x93NUMPY") != 0) return bad("not a .npy file");
  const int major = static_cast<unsigned char>(s[6]);
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
  if (offset + header_len > s.size()) return bad("truncated header");
  const std::string header = s.substr(offset, header_len);
  if (Field(header, "fortran_order").rfind("True", 0) == 0) return bad("Fortran order is not supported");
  const std::string descr(absl::StripSuffix(absl::StripPrefix(Field(header, "descr"), "'"), "'"));
  std::string shape_text = Field(header, "shape");
  shape_text = std::string(absl::StripSuffix(absl::StripPrefix(shape_text, "("), ")"));
  HostTensor t;
  t.dtype = want;
  for (absl::string_view d : absl::StrSplit(shape_text, ',', absl::SkipWhitespace())) {
    int64_t v;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(d), &v)) return bad(absl::StrCat("bad shape '", shape_text, "'"));
    t.shape.push_back(v);
  }
  const int64_t n = t.numel();
  const absl::string_view body(s.data() + offset + header_len, s.size() - offset - header_len);
  t.bytes.assign(static_cast<size_t>(n) * DTypeSize(want), 0);
  const bool exact = descr == Descr(want) && want != DType::kBF16;
  if (exact || (want == DType::kBool && descr == "|u1")) {
    if (body.size() < t.bytes.size()) return bad("data is shorter than the shape says");
    std::memcpy(t.bytes.data(), body.data(), t.bytes.size());
    return t;
  }
  if (want == DType::kBF16 && descr == "<f4") {
    if (body.size() < static_cast<size_t>(n) * 4) return bad("data is shorter than the shape says");
    for (int64_t i = 0; i < n; ++i) {
      float v;
      std::memcpy(&v, body.data() + i * 4, 4);
      t.Set(i, v);
    }
    return t;
  }
  return bad(absl::StrCat("array dtype '", descr, "' does not fit a ", DTypeName(want),
                          " tensor (expected '", Descr(want), "')"));
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
  if (t.dtype == DType::kBF16) {
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float v = static_cast<float>(t.Get(i));
      out.append(reinterpret_cast<const char*>(&v), 4);
    }
  } else {
    out.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  }
  std::ofstream f(path, std::ios::binary);
  f << out;
  if (!f) return absl::PermissionDeniedError(absl::StrCat("cannot write '", path, "'"));
  return absl::OkStatus();
}

}  // namespace tilefuse
