#include "haverify/core/shell.hpp"

namespace haverify {

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += "'";
  return out;
}

std::string expand_template(const std::string& tmpl, const std::map<std::string, std::string>& vars,
                            std::string* missing) {
  std::string out;
  std::size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl[i] == '{') {
      auto close = tmpl.find('}', i);
      if (close != std::string::npos) {
        const std::string name = tmpl.substr(i + 1, close - i - 1);
        auto it = vars.find(name);
        if (it != vars.end()) {
          out += sh_quote(it->second);
          i = close + 1;
          continue;
        }
        if (missing) {
          if (!missing->empty()) *missing += ",";
          *missing += name;
        }
      }
    }
    out += tmpl[i++];
  }
  return out;
}

}  // namespace haverify
