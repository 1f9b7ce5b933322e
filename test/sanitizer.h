// Whether this build runs under a sanitizer. Tests whose time is NVRTC's own (which no
// sanitizer instruments) compile a sample there; the release pass compiles everything.
#ifndef TILEFUSE_TEST_SANITIZER_H_
#define TILEFUSE_TEST_SANITIZER_H_

namespace tilefuse::internal {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kUnderSanitizer = true;
#else
inline constexpr bool kUnderSanitizer = false;
#endif

}  // namespace tilefuse::internal

#endif  // TILEFUSE_TEST_SANITIZER_H_
