// Whole-file reading and crash-safe writing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "refit/status.h"

namespace refit {

// Reads the whole file. NotFound when it does not exist, IoError (naming the path) otherwise.
StatusOr<std::string> ReadFile(const std::string& path);

// Replaces `path` with `bytes` so that a reader (or a crash) sees either the old file or the
// complete new one: the bytes go to a uniquely named temporary file in the same directory, which
// is fsynced and then renamed over `path`. On any error the temporary file is removed and `path`
// is untouched. The new file gets the usual 0666 & ~umask permissions. Safe to call from several
// threads or processes at once (the last rename wins).
Status WriteFileAtomically(const std::string& path, std::string_view bytes);
// The same for a file made of `pieces` in order (no buffer holding the whole file is made).
Status WriteFileAtomically(const std::string& path, const std::vector<std::string_view>& pieces);

}  // namespace refit
