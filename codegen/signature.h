// The signature of a kernel: the canonical text of its spec plus everything else that
// changes the binary (target arch, NVRTC version and options, a hash of the kernel
// templates), and a stable hash of that text. Equal signatures mean interchangeable
// binaries; the text itself is kept so that caches can compare it in full.
#ifndef TILEFUSE_CODEGEN_SIGNATURE_H_
#define TILEFUSE_CODEGEN_SIGNATURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/fusion/kernel_spec.h"

namespace tilefuse::internal {

struct SignatureContext {
  std::string arch;                  // "sm_90"
  std::string nvrtc_version;         // "13.0"
  std::vector<std::string> options;  // NVRTC command line
  uint64_t template_hash = 0;        // StableHash of the template text
};

struct Signature {
  std::string text;
  uint64_t hash = 0;
  // The extern "C" entry name: "tf_" and the hash in hex.
  std::string EntryName() const;
};

Signature MakeSignature(const std::string& spec_text, const SignatureContext& context);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_CODEGEN_SIGNATURE_H_
