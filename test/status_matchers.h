// Status assertions for tests. Debian's Abseil has no StatusIs matcher; these are ours.
#ifndef TILEFUSE_TEST_STATUS_MATCHERS_H_
#define TILEFUSE_TEST_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "runtime/status_macros.h"

namespace tilefuse::internal {

inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <class T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) { return s.status(); }

// Succeeds when `s` has `code` and its message contains `substring`.
template <class S>
::testing::AssertionResult StatusIs(const S& s, absl::StatusCode code,
                                    const std::string& substring = "") {
  const absl::Status& st = StatusOf(s);
  if (st.code() != code) {
    return ::testing::AssertionFailure()
           << "expected code " << absl::StatusCodeToString(code) << ", got " << st;
  }
  if (std::string(st.message()).find(substring) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "message '" << st.message() << "' lacks '" << substring << "'";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace tilefuse::internal

#define TF_EXPECT_OK(expr) EXPECT_TRUE(::tilefuse::internal::StatusOf(expr).ok()) << ::tilefuse::internal::StatusOf(expr)
#define TF_ASSERT_OK(expr) ASSERT_TRUE(::tilefuse::internal::StatusOf(expr).ok()) << ::tilefuse::internal::StatusOf(expr)
#define TF_ASSERT_OK_AND_ASSIGN(lhs, rexpr)                             \
  auto TF_STATUS_CONCAT(tf_test_or_, __LINE__) = (rexpr);               \
  ASSERT_TRUE(TF_STATUS_CONCAT(tf_test_or_, __LINE__).ok())             \
      << TF_STATUS_CONCAT(tf_test_or_, __LINE__).status();              \
  lhs = std::move(TF_STATUS_CONCAT(tf_test_or_, __LINE__)).value()

#endif  // TILEFUSE_TEST_STATUS_MATCHERS_H_
