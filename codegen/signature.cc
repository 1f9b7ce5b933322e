#include "codegen/signature.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codegen/source.h"

namespace tilefuse::internal {

std::string Signature::EntryName() const { return absl::StrCat("tf_", Hex64(hash)); }

Signature MakeSignature(const std::string& spec_text, const SignatureContext& c) {
  Signature s;
  // The version names the glue generator: a change in what codegen emits for one spec
  // (not seen by the spec text or the template hash) bumps it, so that disk caches written
  // by an older generator miss.
  s.text = absl::StrCat("tilefuse-signature v2\narch ", c.arch, "\nnvrtc ", c.nvrtc_version,
                        "\noptions ", absl::StrJoin(c.options, " "), "\ntemplates ",
                        Hex64(c.template_hash), "\n", spec_text);
  s.hash = StableHash(s.text);
  return s;
}

}  // namespace tilefuse::internal
