#include "runtime/manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/graph/json.h"
#include "runtime/graph/json_value.h"
#include "runtime/graph/read_file.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {
namespace {

absl::StatusOr<std::string> EntryLine(const ManifestEntry& e) {
  Json j;
  j["arch"] = e.arch;
  j["fuse"] = e.fuse;
  TF_ASSIGN_OR_RETURN(j["graph"], ParseJson(GraphToJson(e.graph), "graph"));
  if (!e.tuning_path.empty()) j["tuning"] = e.tuning_path;
  if (e.m_classes) j["m_classes"] = *e.m_classes;
  if (e.sm_count > 0) j["sm_count"] = e.sm_count;
  if (!e.gemm_row_epilogues) j["gemm_row_epilogues"] = false;
  if (e.norm_prologues) j["norm_prologues"] = true;
  if (e.wide_row_epilogues) j["wide_row_epilogues"] = true;
  // One line: dump() without indent escapes newlines.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

absl::StatusOr<ManifestEntry> ParseEntry(absl::string_view line) {
  TF_ASSIGN_OR_RETURN(Json j, ParseJson(line, "the line"));
  if (!j.is_object()) return absl::InvalidArgumentError("not a JSON object");
  const Json* graph = JsonMember(j, "graph");
  if (graph == nullptr || !graph->is_object()) return absl::InvalidArgumentError("no \"graph\" object");
  const Json* arch = JsonMember(j, "arch");
  if (arch == nullptr) return absl::InvalidArgumentError("no \"arch\" string");
  ManifestEntry e;
  TF_ASSIGN_OR_RETURN(e.arch, JsonString(*arch, "\"arch\""));
  if (const Json* fuse = JsonMember(j, "fuse")) {
    TF_ASSIGN_OR_RETURN(e.fuse, JsonBool(*fuse, "\"fuse\""));
  }
  if (const Json* tuning = JsonMember(j, "tuning")) {
    TF_ASSIGN_OR_RETURN(e.tuning_path, JsonString(*tuning, "\"tuning\""));
  }
  if (const Json* classes = JsonMember(j, "m_classes")) {
    if (!classes->is_array()) return absl::InvalidArgumentError("\"m_classes\" is not an array of row counts");
    e.m_classes.emplace();
    for (const Json& b : *classes) {
      TF_ASSIGN_OR_RETURN(int64_t m, JsonInt(b, 1, int64_t{1} << 40, "a bound of \"m_classes\""));
      e.m_classes->push_back(m);
    }
  }
  if (const Json* sms = JsonMember(j, "sm_count")) {
    TF_ASSIGN_OR_RETURN(int64_t n, JsonInt(*sms, 1, 100000, "\"sm_count\""));
    e.sm_count = static_cast<int>(n);
  }
  const auto flag = [&](const char* key, bool& out) -> absl::Status {
    const Json* v = JsonMember(j, key);
    if (v == nullptr) return absl::OkStatus();
    TF_ASSIGN_OR_RETURN(out, JsonBool(*v, absl::StrCat("\"", key, "\"")));
    return absl::OkStatus();
  };
  TF_RETURN_IF_ERROR(flag("gemm_row_epilogues", e.gemm_row_epilogues));
  TF_RETURN_IF_ERROR(flag("norm_prologues", e.norm_prologues));
  TF_RETURN_IF_ERROR(flag("wide_row_epilogues", e.wide_row_epilogues));
  TF_ASSIGN_OR_RETURN(e.graph, GraphFromJson(graph->dump(-1, ' ', false, Json::error_handler_t::replace)));
  return e;
}

}  // namespace

absl::Status AppendToManifest(const std::string& path, const ManifestEntry& entry) {
  TF_ASSIGN_OR_RETURN(const std::string line, EntryLine(entry));
  absl::StatusOr<std::string> text = ReadTextFile(path, kMaxManifestBytes, "manifest");
  if (text.ok()) {
    if (absl::StrContains(absl::StrCat("\n", *text), absl::StrCat("\n", line))) return absl::OkStatus();
  } else if (!absl::IsNotFound(text.status())) {
    return text.status();
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open manifest ", path, " for appending: ", std::strerror(errno)));
  }
  const ssize_t n = ::write(fd, line.data(), line.size());
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) {
    return absl::DataLossError(absl::StrCat("short write to manifest ", path, n < 0 ? ": " : "",
                                            n < 0 ? std::strerror(err) : ""));
  }
  return absl::OkStatus();
}

absl::StatusOr<Manifest> ReadManifest(const std::string& path) {
  TF_ASSIGN_OR_RETURN(const std::string text, ReadTextFile(path, kMaxManifestBytes, "manifest"));
  Manifest m;
  int line_no = 0;
  for (absl::string_view l : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (l.empty()) continue;
    absl::StatusOr<ManifestEntry> e = ParseEntry(l);
    if (e.ok()) {
      m.entries.push_back(*std::move(e));
    } else {
      m.skipped.push_back(absl::StrCat(path, ":", line_no, ": skipped: ", e.status().message()));
    }
  }
  return m;
}

}  // namespace tilefuse::internal
