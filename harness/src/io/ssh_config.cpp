#include "haverify/io/ssh_config.hpp"

#include <libssh/libssh.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>

#include <fmt/format.h>

namespace haverify {

namespace {

constexpr off_t kMaxConfigBytes = 1024 * 1024;

struct FreeSession {
  void operator()(ssh_session s) const noexcept { ssh_free(s); }  // never connected
};
using Session = std::unique_ptr<ssh_session_struct, FreeSession>;

// A string option of a session, or "" (libssh returns a copy to free).
std::string get_option(ssh_session s, ssh_options_e what) {
  char* v = nullptr;
  if (ssh_options_get(s, what, &v) != SSH_OK || v == nullptr) return {};
  std::string out = v;
  ssh_string_free_char(v);
  return out;
}

// A session for `alias` with `file` read (nullptr: no file), nothing else.
Session parsed(const std::string& alias, const char* file) {
  Session s(ssh_new());
  if (!s) throw std::runtime_error("ssh_new failed (out of memory?)");
  const int no_log = SSH_LOG_NOLOG;
  const int no_config = 0;
  ssh_options_set(s.get(), SSH_OPTIONS_LOG_VERBOSITY, &no_log);
  ssh_options_set(s.get(), SSH_OPTIONS_PROCESS_CONFIG, &no_config);
  if (ssh_options_set(s.get(), SSH_OPTIONS_HOST, alias.c_str()) != SSH_OK)
    throw std::runtime_error(fmt::format("'{}' is not a host name libssh accepts", alias));
  if (file && ssh_options_parse_config(s.get(), file) != SSH_OK)
    throw std::runtime_error(fmt::format("libssh cannot read the SSH config file {}", file));
  return s;
}

std::string home_dir() {
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return "/";
}

// ~/ and %d/ at the start of an IdentityFile.
std::string expand_home(const std::string& path) {
  if (path.rfind("~/", 0) == 0) return home_dir() + path.substr(1);
  if (path.rfind("%d/", 0) == 0) return home_dir() + path.substr(2);
  return path;
}

}  // namespace

SshConfigHost resolve_ssh_config(const std::string& file, const std::string& alias) {
  // A regular file of a sane size: never a device, a FIFO or a huge file,
  // which libssh would read forever or block on.
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || ::access(file.c_str(), R_OK) != 0)
    throw std::runtime_error(fmt::format("the SSH config file {} cannot be read", file));
  if (!S_ISREG(st.st_mode) || st.st_size > kMaxConfigBytes)
    throw std::runtime_error(
        fmt::format("the SSH config file {} is not a regular file of at most {} KiB", file, kMaxConfigBytes / 1024));
  const Session base = parsed(alias, nullptr);  // libssh's own defaults, to tell the file's values apart
  const Session s = parsed(alias, file.c_str());
  SshConfigHost h;
  h.host = get_option(s.get(), SSH_OPTIONS_HOST);
  unsigned int port = 0, base_port = 0;
  ssh_options_get_port(s.get(), &port);
  ssh_options_get_port(base.get(), &base_port);
  if (port != base_port || port != 22) h.port = static_cast<int>(port);
  if (std::string u = get_option(s.get(), SSH_OPTIONS_USER);
      !u.empty() && u != get_option(base.get(), SSH_OPTIONS_USER))
    h.user = u;
  if (std::string k = get_option(s.get(), SSH_OPTIONS_IDENTITY);
      !k.empty() && k != get_option(base.get(), SSH_OPTIONS_IDENTITY))
    h.key = expand_home(k);
  h.proxy = get_option(s.get(), SSH_OPTIONS_PROXYCOMMAND);
  if (h.proxy == "none") h.proxy.clear();
  return h;
}

}  // namespace haverify
