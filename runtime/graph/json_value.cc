#include "runtime/graph/json_value.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {
namespace {

// Line and column (from 1) of byte `at` of `text`.
std::string Position(absl::string_view text, size_t at) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < at && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return absl::StrCat("line ", line, ", column ", col);
}

// Byte offset where arrays and objects nest deeper than kMaxJsonDepth, or npos. nlohmann
// parses without recursion, but the values it builds are walked recursively (dump, our
// readers): a depth bound keeps every walk off the end of the stack.
size_t TooDeepAt(absl::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return absl::string_view::npos;
}

absl::Status TypeError(const Json& v, absl::string_view where, absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(where, " is ", BriefJson(v), " (expected ", expected, ")"));
}

}  // namespace

absl::StatusOr<Json> ParseJson(absl::string_view text, absl::string_view what) {
  if (text.size() > kMaxJsonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " holds ", text.size(), " bytes (at most ", kMaxJsonBytes, ")"));
  }
  if (const size_t at = TooDeepAt(text); at != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, " nests arrays and objects more than ", kMaxJsonDepth,
                                                   " deep at ", Position(text, at)));
  }
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    // e.byte counts from 1 and points past the offending character.
    const size_t at = e.byte > 0 ? e.byte - 1 : 0;
    std::string why = e.what();
    if (const size_t p = why.find(": syntax error"); p != std::string::npos) why = why.substr(p + 2);
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not valid JSON at ", Position(text, at), ": ", why));
  } catch (const std::exception& e) {  // bad_alloc and the like
    return absl::ResourceExhaustedError(absl::StrCat(what, " could not be parsed: ", e.what()));
  }
}

std::string BriefJson(const Json& v) {
  // Replace invalid UTF-8 instead of throwing on it.
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 80) s = absl::StrCat(s.substr(0, 77), "...");
  return s;
}

absl::StatusOr<int64_t> JsonInt(const Json& v, int64_t lo, int64_t hi, absl::string_view where) {
  const std::string range = absl::StrCat("an integer in [", lo, ", ", hi, "]");
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (hi >= 0 && u <= static_cast<uint64_t>(hi) && static_cast<int64_t>(u) >= lo) return static_cast<int64_t>(u);
    return TypeError(v, where, range);
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i >= lo && i <= hi) return i;
  }
  return TypeError(v, where, range);
}

absl::StatusOr<double> JsonReal(const Json& v, absl::string_view where) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  return TypeError(v, where, "a number, \"inf\", \"-inf\" or \"nan\"");
}

Json RealToJson(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

absl::StatusOr<std::string> JsonString(const Json& v, absl::string_view where) {
  if (v.is_string()) return v.get<std::string>();
  return TypeError(v, where, "a string");
}

absl::StatusOr<bool> JsonBool(const Json& v, absl::string_view where) {
  if (v.is_boolean()) return v.get<bool>();
  return TypeError(v, where, "true or false");
}

const Json* JsonMember(const Json& obj, absl::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  return it == obj.end() ? nullptr : &*it;
}

absl::StatusOr<const Json*> JsonArrayMember(const Json& obj, absl::string_view key, absl::string_view where) {
  static const Json* const kEmpty = new Json(Json::array());
  const Json* v = JsonMember(obj, key);
  if (v == nullptr) return kEmpty;
  if (!v->is_array()) return TypeError(*v, absl::StrCat(where, " '", key, "'"), "an array");
  return v;
}

}  // namespace tilefuse::internal
