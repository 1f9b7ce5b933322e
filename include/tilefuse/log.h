// What tilefuse tells the engine it runs in: NVRTC's warnings, where each kernel came from
// (memory, disk, NVRTC), tuning results and disk-cache problems. By default messages go to
// standard error at the level $TILEFUSE_LOG_LEVEL names (error, warning, info or debug;
// warning when unset).
//
//   tilefuse::SetLogger([](tilefuse::LogLevel l, std::string_view m) { MyLog(l, m); },
//                       tilefuse::LogLevel::kInfo);
#ifndef TILEFUSE_LOG_H_
#define TILEFUSE_LOG_H_

#include <functional>
#include <string_view>

#include "tilefuse/export.h"

namespace tilefuse {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

using Logger = std::function<void(LogLevel, std::string_view)>;

// Replaces the logger (null: standard error); messages below `level` are dropped first.
// Thread-safe; the logger may be called from any thread that compiles or runs a plan.
TILEFUSE_API void SetLogger(Logger logger, LogLevel level = LogLevel::kWarning);

}  // namespace tilefuse

#endif  // TILEFUSE_LOG_H_
