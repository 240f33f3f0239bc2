#pragma once
// The lab disk's page cache: dirty 4 KiB pages per backing inode held in the
// daemon's memory, written back by fsync, by age, by the dirty limit and at a
// clean unmount; what was not written back is lost with the process (a power
// loss). It works on backing-store file descriptors and has no FUSE in it
// (lab_disk.cpp is the glue); the semantics are described at the top of
// lab_disk.cpp and in docs/lab.md, "The lab disk".
#include <sys/stat.h>
#include <sys/types.h>

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "lab/disk/profile.hpp"

namespace haverify::labdisk {

inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint64_t kSectorSize = 512;

// Owns a file descriptor.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset();

 private:
  int fd_;
};

// A set of page numbers as merged [first, end) ranges: the pages of a file this
// daemon has read or written since it started (the warm ones).
class PageRanges {
 public:
  void insert(std::uint64_t first, std::uint64_t end);
  bool contains(std::uint64_t page) const;
  // The runs of [first, end) not in the set, in order.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> missing(std::uint64_t first, std::uint64_t end) const;
  std::size_t ranges() const { return ranges_.size(); }

 private:
  std::map<std::uint64_t, std::uint64_t> ranges_;  // first -> end
};

struct CacheOptions {
  Nanos dirty_expire = 30'000'000'000;  // Linux dirty_expire_centisecs = 3000
  std::uint64_t dirty_limit_bytes = 256ull << 20;
  std::size_t max_dirty_inodes = 4096;  // each dirty inode holds a backing fd
  bool torn_pages = false;
  std::function<void(const std::string&)> log;  // writeback errors; may be empty
};

struct CacheStats {
  std::uint64_t dirty_bytes = 0;
  std::size_t dirty_inodes = 0;
  std::uint64_t durable_bytes = 0;  // bytes written back to the backing store
  std::uint64_t fsyncs = 0;         // file fsyncs, O_SYNC writes and directory fsyncs
  std::uint64_t writebacks = 0;     // inodes written back (any reason)
  std::uint64_t writeback_errors = 0;
  std::uint64_t torn_sectors = 0;  // sectors written through by --torn-pages
};

// Every call takes a backing-store fd of a regular file (writes need one opened
// O_RDWR) and returns >= 0, or -errno as FUSE wants it. Thread-safe.
class PageCache {
 public:
  PageCache(CacheOptions options, Device& device, ClockFn now);
  // Drops every dirty page without writing it back: what a power loss does.
  ~PageCache();
  PageCache(const PageCache&) = delete;
  PageCache& operator=(const PageCache&) = delete;

  // The backing data overlaid with the dirty pages, up to the cached size.
  long read(int fd, char* buf, std::size_t size, off_t off);
  // Into dirty pages; with `sync` (O_SYNC/O_DSYNC) made durable before returning.
  long write(int fd, const char* buf, std::size_t size, off_t off, bool sync);
  // Cached size changes, applied to the backing file at writeback.
  int truncate(int fd, off_t size);
  int extend(int fd, off_t size);  // fallocate mode 0: grows only
  // Writes the inode's dirty pages and size to the backing file, then charges
  // the device: the runs and a cache flush.
  int fsync(int fd);
  // The same without the cache flush (before setting a dirty file's times, so
  // that the writeback does not change them afterwards).
  int writeback(int fd);
  // A directory fsync: namespace operations are already on the backing store;
  // charges a cache flush.
  int sync_dir();
  // The cached size and modification time over what the backing file says.
  void overlay_stat(struct stat& st) const;

  // Background writeback: the inodes dirty for dirty_expire or longer. Returns
  // how many were written back.
  std::size_t writeback_expired();
  // Everything (a clean unmount). Returns the number of inodes that failed.
  std::size_t writeback_all();

  CacheStats stats() const;

 private:
  struct Page {
    std::array<char, kPageSize> data;
  };
  struct Inode {
    UniqueFd fd;                          // a dup of a writable backing fd while dirty; -1 when clean
    std::map<std::uint64_t, Page> dirty;  // page number -> content
    off_t size = 0;                       // the cached size (while dirty)
    off_t trunc_floor = 0;                // backing bytes from here on read as zeros (while dirty)
    Nanos dirtied_at = 0;                 // when it became dirty
    struct timespec mtime {};             // of the last cached change (while dirty)
    bool written_since_sync = false;      // changed since its last fsync
    Nanos durable_at = 0;                 // the end of its last fsync's device slot
    PageRanges warm;                      // pages read or written since the daemon started
  };
  using Key = std::pair<dev_t, ino_t>;

  Inode& inode_locked(const struct stat& st);
  Inode* dirty_inode_locked(int fd, const struct stat& st, int* err);
  void make_clean_locked(Inode& in);
  Page* page_locked(Inode& in, int fd, std::uint64_t pgno, const struct stat& st, bool whole, std::vector<IoRun>& reads,
                    int* err);
  int writeback_locked(Inode& in, std::vector<IoRun>& runs);
  int balance_locked(std::vector<IoRun>& runs);
  void tear_locked(Inode& in, int fd, std::uint64_t pgno, const struct stat& st);
  void log(const std::string& what) const;

  CacheOptions options_;
  Device& device_;
  ClockFn now_;
  mutable std::mutex mu_;
  std::map<Key, Inode> inodes_;
  CacheStats stats_;
};

// Linux's flusher thread: every `interval` (dirty_writeback_centisecs), the
// inodes dirty for dirty_expire or longer are written back. Stops and joins
// in its destructor.
class BackgroundWriteback {
 public:
  BackgroundWriteback(PageCache& cache, Nanos interval);
  ~BackgroundWriteback();
  BackgroundWriteback(const BackgroundWriteback&) = delete;
  BackgroundWriteback& operator=(const BackgroundWriteback&) = delete;

 private:
  void run();

  PageCache& cache_;
  const Nanos interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace haverify::labdisk
