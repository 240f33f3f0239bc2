// The libFuzzer harness of one reader: this file, built once per reader with
// HAVERIFY_FUZZ_READER naming it (tests/fuzz/CMakeLists.txt). A refusal with
// a usage error is fine; any other exception, crash, leak, hang or undefined
// behaviour (ASan, UBSan) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "readers.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const haverify::fuzz::Reader* reader = [] {
    const auto* r = haverify::fuzz::find_reader(HAVERIFY_FUZZ_READER);
    if (!r) {
      std::fprintf(stderr, "fuzz: no reader named %s\n", HAVERIFY_FUZZ_READER);
      std::abort();
    }
    return r;
  }();
  reader->read(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
