#include "harness/core/results_file.h"

#include <nlohmann/json.hpp>

namespace ipcm {

bool is_complete_results_json(const std::string& text) {
  // Outside strings, each non-finite token becomes null (the same length is not needed:
  // the copy is only parsed, never written).
  std::string strict;
  strict.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      strict += c;
      if (c == '\\' && i + 1 < text.size()) strict += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      strict += c;
      continue;
    }
    bool replaced = false;
    for (const char* token : {"-Infinity", "Infinity", "-NaN", "NaN"}) {
      const std::string t = token;
      if (text.compare(i, t.size(), t) == 0) {
        strict += "null";
        i += t.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) strict += c;
  }
  return !nlohmann::json::parse(strict, nullptr, false).is_discarded();
}

}  // namespace ipcm
