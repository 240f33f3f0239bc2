#pragma once
#include <map>
#include <string>

namespace haverify {

// Quotes `s` for a POSIX shell: 'it'\''s'.
std::string sh_quote(const std::string& s);

// Replaces {name} placeholders with values, each shell-quoted (sh_quote) so a
// value is always one word: the template's own text is shell by design (the
// inventory's author writes it), the values are data (a host name, a BMC
// address) and can never add a command. Write `{bmc}`, not `'{bmc}'` or
// `"{bmc}"`. Unknown placeholders are left in place and reported through
// `missing` (comma-separated) if given.
std::string expand_template(const std::string& tmpl, const std::map<std::string, std::string>& vars,
                            std::string* missing = nullptr);

}  // namespace haverify
