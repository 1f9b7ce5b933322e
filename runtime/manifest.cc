#include "runtime/manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/graph/json.h"

namespace tilefuse {
namespace {

std::string EntryLine(const ManifestEntry& e) {
  nlohmann::json j;
  j["arch"] = e.arch;
  j["fuse"] = e.fuse;
  j["graph"] = nlohmann::json::parse(GraphToJson(e.graph));
  if (!e.tuning_path.empty()) j["tuning"] = e.tuning_path;
  return j.dump() + "\n";  // one line: dump() without indent escapes newlines
}

}  // namespace

absl::Status AppendToManifest(const std::string& path, const ManifestEntry& entry) {
  const std::string line = EntryLine(entry);
  {
    std::ifstream in(path);
    for (std::string l; std::getline(in, l);) {
      if (l + "\n" == line) return absl::OkStatus();
    }
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat("cannot open manifest ", path, " for appending"));
  const ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) {
    return absl::DataLossError(absl::StrCat("short write to manifest ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ManifestEntry>> ReadManifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read manifest ", path));
  std::vector<ManifestEntry> entries;
  int line_no = 0;
  for (std::string l; std::getline(in, l);) {
    ++line_no;
    if (l.empty()) continue;
    const auto err = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_no, ": ", what));
    };
    nlohmann::json j = nlohmann::json::parse(l, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return err("not a JSON object");
    if (!j.contains("graph") || !j["graph"].is_object()) return err("no \"graph\" object");
    if (!j.contains("arch") || !j["arch"].is_string()) return err("no \"arch\" string");
    absl::StatusOr<Graph> g = GraphFromJson(j["graph"].dump());
    if (!g.ok()) return err(g.status().message());
    if (j.contains("tuning") && !j["tuning"].is_string()) return err("\"tuning\" is not a path");
    entries.push_back(ManifestEntry{*std::move(g), j.value("fuse", true), j["arch"].get<std::string>(),
                                    j.value("tuning", std::string())});
  }
  return entries;
}

}  // namespace tilefuse
