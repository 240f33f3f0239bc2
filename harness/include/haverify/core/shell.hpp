#pragma once
#include <map>
#include <string>

namespace haverify {

// Quotes `s` for a POSIX shell: 'it'\''s'.
std::string sh_quote(const std::string& s);

// Replaces {name} placeholders with values (not quoted: templates are written
// by the inventory's author). Unknown placeholders are left in place and
// reported through `missing` (comma-separated) if given.
std::string expand_template(const std::string& tmpl, const std::map<std::string, std::string>& vars,
                            std::string* missing = nullptr);

}  // namespace haverify
