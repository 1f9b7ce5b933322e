// A small C-source emitter: indentation, scopes that must close, and names unique within
// one kernel, so generated text is readable and stable (same spec, same bytes).
//
//   Emitter e;
//   e.Open("struct Params {");
//   e.Line("const float* in0;");
//   e.Close("};");
//   TF_ASSIGN_OR_RETURN(std::string text, e.Finish());
#ifndef TILEFUSE_CODEGEN_EMITTER_H_
#define TILEFUSE_CODEGEN_EMITTER_H_

#include "absl/strings/string_view.h"
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace tilefuse::internal {

class Emitter {
 public:
  // Appends one line at the current depth.
  void Line(absl::string_view text);
  void Blank() { out_ += "\n"; }
  // Appends `head` and indents what follows until the matching Close.
  void Open(absl::string_view head);
  void Close(absl::string_view tail = "}");
  // Closes a scope and opens the next at the same depth: "} else {".
  void Reopen(absl::string_view text);
  // A fresh name with `prefix`, numbered per emitter: "v0", "v1", ...
  std::string Fresh(absl::string_view prefix);
  // The text, or kInternal when a scope was left open or closed twice.
  absl::StatusOr<std::string> Finish() const;

 private:
  std::string out_;
  int depth_ = 0;
  int counter_ = 0;
  bool unbalanced_ = false;
};

}  // namespace tilefuse::internal

#endif  // TILEFUSE_CODEGEN_EMITTER_H_
