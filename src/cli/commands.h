// The `refit` command-line tool: one function per subcommand. Each registers its options on a
// CLI11 subcommand and returns a callable that runs it once parsing succeeded. A command returns
// a Status; main() prints a failed one to stderr as "refit <command>: error: ..." and exits 1.
#pragma once

#include <functional>

#include "CLI/CLI.hpp"
#include "refit/status.h"

namespace refit::cli {

using Command = std::function<Status()>;
struct WeightArgs;

// --weights W and --lora ADAPTER[:SCALE]... for commands that take an engine (cmd_common.cc).
void AddWeightOptions(CLI::App* cmd, WeightArgs* args, bool stripped_note);

Command AddBuildCommand(CLI::App& app);
Command AddRunCommand(CLI::App& app);
Command AddInspectCommand(CLI::App& app);
Command AddBenchCommand(CLI::App& app);
Command AddUpdateCommand(CLI::App& app);
Command AddCacheCommand(CLI::App& app);

}  // namespace refit::cli
