// The subcommands of the `tilefuse` command-line tool (see DESIGN.md, "The command line").
// Each takes the arguments after its name and returns the process exit code; messages go
// to stdout, errors to stderr.
#ifndef TILEFUSE_RUNTIME_TOOLS_COMMANDS_H_
#define TILEFUSE_RUNTIME_TOOLS_COMMANDS_H_

#include <string>
#include <vector>

namespace tilefuse::internal {

int PlanCommand(const std::vector<std::string>& args);
int CompileCommand(const std::vector<std::string>& args);
int RunCommand(const std::vector<std::string>& args);
int WarmupCommand(const std::vector<std::string>& args);
int CacheCommand(const std::vector<std::string>& args);

}  // namespace tilefuse::internal

#endif  // TILEFUSE_RUNTIME_TOOLS_COMMANDS_H_
