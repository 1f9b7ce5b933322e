#include "codegen/emitter.h"

#include "absl/strings/str_cat.h"

namespace tilefuse::internal {

void Emitter::Line(absl::string_view text) {
  out_.append(2 * depth_, ' ');
  absl::StrAppend(&out_, text, "\n");
}

void Emitter::Open(absl::string_view head) {
  Line(head);
  ++depth_;
}

void Emitter::Close(absl::string_view tail) {
  if (depth_ == 0) {
    unbalanced_ = true;
    return;
  }
  --depth_;
  Line(tail);
}

void Emitter::Reopen(absl::string_view text) {
  if (depth_ == 0) {
    unbalanced_ = true;
    return;
  }
  --depth_;
  Line(text);
  ++depth_;
}

std::string Emitter::Fresh(absl::string_view prefix) { return absl::StrCat(prefix, counter_++); }

absl::StatusOr<std::string> Emitter::Finish() const {
  if (depth_ != 0 || unbalanced_) {
    return absl::InternalError(absl::StrCat("emitter: unbalanced scopes (depth ", depth_,
                                            unbalanced_ ? ", a Close without Open" : "", ")"));
  }
  return out_;
}

}  // namespace tilefuse::internal
