#include "codegen/signature.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codegen/source.h"

namespace tilefuse {

std::string Signature::EntryName() const { return absl::StrCat("tf_", Hex64(hash)); }

Signature MakeSignature(const std::string& spec_text, const SignatureContext& c) {
  Signature s;
  s.text = absl::StrCat("tilefuse-signature v1\narch ", c.arch, "\nnvrtc ", c.nvrtc_version,
                        "\noptions ", absl::StrJoin(c.options, " "), "\ntemplates ",
                        Hex64(c.template_hash), "\n", spec_text);
  s.hash = StableHash(s.text);
  return s;
}

}  // namespace tilefuse
