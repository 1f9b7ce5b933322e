// Small status helpers. Debian's Abseil (20220623) has no RETURN_IF_ERROR or
// ASSIGN_OR_RETURN, so tilefuse carries its own, spelled with a TF_ prefix.
//
//   TF_RETURN_IF_ERROR(Validate(graph));
//   TF_ASSIGN_OR_RETURN(Plan plan, Compile(graph, options));
#ifndef TILEFUSE_RUNTIME_STATUS_MACROS_H_
#define TILEFUSE_RUNTIME_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TF_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    ::absl::Status tf_status_ = (expr);           \
    if (!tf_status_.ok()) return tf_status_;      \
  } while (0)

#define TF_STATUS_CONCAT_INNER(a, b) a##b
#define TF_STATUS_CONCAT(a, b) TF_STATUS_CONCAT_INNER(a, b)

#define TF_ASSIGN_OR_RETURN(lhs, rexpr) \
  TF_ASSIGN_OR_RETURN_IMPL(TF_STATUS_CONCAT(tf_statusor_, __LINE__), lhs, rexpr)

#define TF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                             \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#endif  // TILEFUSE_RUNTIME_STATUS_MACROS_H_
