// Reading JSON that anyone may have written (graph files, manifests, tuning records):
// parse with limits, and typed access that checks before it converts, so that no
// nlohmann exception leaves the library and no number is silently truncated.
//
//   TF_ASSIGN_OR_RETURN(Json j, ParseJson(text, "graph file"));
//   TF_ASSIGN_OR_RETURN(int64_t d, JsonInt(j["dim"], -8, 7, "node 'y': attribute 'dim'"));
#ifndef TILEFUSE_RUNTIME_GRAPH_JSON_VALUE_H_
#define TILEFUSE_RUNTIME_GRAPH_JSON_VALUE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace tilefuse::internal {

using Json = nlohmann::json;

// Limits of ParseJson: a document of at most kMaxJsonBytes, nested at most kMaxJsonDepth
// arrays and objects deep.
inline constexpr size_t kMaxJsonBytes = size_t{256} << 20;
inline constexpr int kMaxJsonDepth = 64;

// The document, or kInvalidArgument naming `what`, the line and column, and the cause.
absl::StatusOr<Json> ParseJson(absl::string_view text, absl::string_view what);

// `v` as compact JSON for a message, cut after about 80 characters.
std::string BriefJson(const Json& v);

// An integer in [lo, hi]: `where` names the value in the message.
absl::StatusOr<int64_t> JsonInt(const Json& v, int64_t lo, int64_t hi, absl::string_view where);
// A number, or one of the strings "inf", "-inf", "nan" (JSON has no literal for them).
absl::StatusOr<double> JsonReal(const Json& v, absl::string_view where);
// A finite number as itself, ±inf and NaN as the strings JsonReal reads.
Json RealToJson(double v);
absl::StatusOr<std::string> JsonString(const Json& v, absl::string_view where);
absl::StatusOr<bool> JsonBool(const Json& v, absl::string_view where);

// Member `key` of object `obj`: nullptr when absent.
const Json* JsonMember(const Json& obj, absl::string_view key);
// Member `key` of object `obj` as an array (an empty one when absent).
absl::StatusOr<const Json*> JsonArrayMember(const Json& obj, absl::string_view key, absl::string_view where);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_GRAPH_JSON_VALUE_H_
