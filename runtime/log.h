// What tilefuse tells the engine it runs in: NVRTC warnings, where each kernel came from
// (memory, disk, NVRTC), tuning results and disk-cache problems.
//
// Messages at or above the level go to the logger: by default standard error, at the level
// $TILEFUSE_LOG_LEVEL names (error, warning, info or debug; warning when unset). An engine
// routes them into its own log with SetLogger (thread-safe; null restores the default).
//
//   tilefuse::internal::SetLogger([](tilefuse::internal::LogLevel l, std::string_view m) { MyLog(l, m); });
#ifndef TILEFUSE_RUNTIME_LOG_H_
#define TILEFUSE_RUNTIME_LOG_H_

#include <functional>
#include <string>
#include <string_view>

namespace tilefuse::internal {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

using Logger = std::function<void(LogLevel, std::string_view)>;

// Replaces the logger (null: standard error); messages below `level` are dropped first.
void SetLogger(Logger logger, LogLevel level = LogLevel::kWarning);

// The level messages must reach to be logged.
LogLevel CurrentLogLevel();

// Sends `message` to the logger when `level` is at or above the current level.
void Log(LogLevel level, std::string_view message);

// "error", "warning", "info", "debug".
std::string_view LogLevelName(LogLevel level);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_LOG_H_
