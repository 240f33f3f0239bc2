#pragma once
// The file readers the fuzzers feed, one entry each taking a file's bytes:
// shared by the libFuzzer harnesses (fuzz_reader.cpp) and the unit test that
// replays the regression corpus (tests/unit/test_fuzz_corpus.cpp), so that
// both feed the very same code.
#include <string>
#include <string_view>
#include <vector>

namespace haverify::fuzz {

// What a reader made of an input: it parsed, or it refused it with a usage
// error (exit 2). Anything else escapes: another exception, or a crash, is a
// finding.
enum class Outcome { parsed, refused };

struct Reader {
  const char* name;  // scenario | inventory | plan_csv | results_csv | ledger: its corpus folder's name
  Outcome (*read)(const std::string& data);
};

const std::vector<Reader>& readers();
// nullptr for an unknown name.
const Reader* find_reader(std::string_view name);

}  // namespace haverify::fuzz
