// The lab disk's page cache (page_cache.hpp).
#include "lab/disk/page_cache.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace haverify::labdisk {

namespace {

// Reads `len` bytes at `off` (fewer only at end of file). Returns bytes or -errno.
long pread_full(int fd, char* buf, std::size_t len, off_t off) {
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pread(fd, buf + done, len - done, off + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return static_cast<long>(done);
}

// Writes all of `len` bytes at `off`. Returns 0 or -errno.
int pwrite_full(int fd, const char* buf, std::size_t len, off_t off) {
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pwrite(fd, buf + done, len - done, off + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

std::uint64_t file_id(const struct stat& st) {
  return static_cast<std::uint64_t>(st.st_ino);
}

struct timespec realtime_now() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

}  // namespace

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void PageRanges::insert(std::uint64_t first, std::uint64_t end) {
  if (first >= end) return;
  auto it = ranges_.upper_bound(first);
  if (it != ranges_.begin() && std::prev(it)->second >= first) {
    --it;
    first = it->first;
    end = std::max(end, it->second);
    it = ranges_.erase(it);
  }
  while (it != ranges_.end() && it->first <= end) {
    end = std::max(end, it->second);
    it = ranges_.erase(it);
  }
  ranges_.emplace(first, end);
}

bool PageRanges::contains(std::uint64_t page) const {
  auto it = ranges_.upper_bound(page);
  return it != ranges_.begin() && std::prev(it)->second > page;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> PageRanges::missing(std::uint64_t first, std::uint64_t end) const {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  auto it = ranges_.upper_bound(first);
  if (it != ranges_.begin() && std::prev(it)->second > first) first = std::prev(it)->second;
  for (; first < end; ++it) {
    if (it == ranges_.end() || it->first >= end) {
      out.emplace_back(first, end);
      break;
    }
    if (it->first > first) out.emplace_back(first, it->first);
    first = std::max(first, it->second);
  }
  return out;
}

PageCache::PageCache(CacheOptions options, Device& device, ClockFn now)
    : options_(std::move(options)), device_(device), now_(std::move(now)) {}

PageCache::~PageCache() = default;

void PageCache::log(const std::string& what) const {
  if (options_.log) options_.log(what);
}

PageCache::Inode& PageCache::inode_locked(const struct stat& st) {
  return inodes_[Key{st.st_dev, st.st_ino}];
}

PageCache::Inode* PageCache::dirty_inode_locked(int fd, const struct stat& st, int* err) {
  Inode& in = inode_locked(st);
  if (in.fd.get() >= 0) return &in;
  UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (dup.get() < 0) {
    *err = -errno;
    return nullptr;
  }
  in.fd = std::move(dup);
  in.size = st.st_size;
  in.trunc_floor = st.st_size;
  in.dirtied_at = now_();
  ++stats_.dirty_inodes;
  return &in;
}

void PageCache::make_clean_locked(Inode& in) {
  stats_.dirty_bytes -= in.dirty.size() * kPageSize;
  in.dirty.clear();
  in.fd.reset();
  --stats_.dirty_inodes;
}

// The page `pgno` of a dirty inode, loaded from the backing file unless the
// caller overwrites it whole; a load of a cold page is a device read.
PageCache::Page* PageCache::page_locked(Inode& in, int fd, std::uint64_t pgno, const struct stat& st, bool whole,
                                        std::vector<IoRun>& reads, int* err) {
  auto [it, fresh] = in.dirty.try_emplace(pgno);
  if (!fresh) return &it->second;
  Page& page = it->second;
  page.data.fill(0);
  stats_.dirty_bytes += kPageSize;
  const off_t start = static_cast<off_t>(pgno * kPageSize);
  const off_t valid = std::min<off_t>(st.st_size, in.trunc_floor);
  if (whole || start >= valid) return &page;
  const auto len = static_cast<std::size_t>(std::min<off_t>(kPageSize, valid - start));
  if (const long rc = pread_full(fd, page.data.data(), len, start); rc < 0) {
    *err = static_cast<int>(rc);
    in.dirty.erase(it);
    stats_.dirty_bytes -= kPageSize;
    return nullptr;
  }
  if (!in.warm.contains(pgno)) reads.push_back(IoRun{file_id(st), static_cast<std::uint64_t>(start), len});
  return &page;
}

long PageCache::read(int fd, char* buf, std::size_t size, off_t off) {
  std::vector<IoRun> reads;
  long done = 0;
  {
    std::lock_guard lock(mu_);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return -errno;
    Inode& in = inode_locked(st);
    const bool dirty = in.fd.get() >= 0;
    const off_t fsize = dirty ? in.size : st.st_size;
    const off_t valid = dirty ? std::min<off_t>(st.st_size, in.trunc_floor) : st.st_size;
    if (off >= fsize || size == 0) return 0;
    const auto len = static_cast<std::size_t>(std::min<off_t>(static_cast<off_t>(size), fsize - off));
    const auto from_backing = off < valid ? std::min<std::size_t>(len, static_cast<std::size_t>(valid - off)) : 0;
    const long got = pread_full(fd, buf, from_backing, off);
    if (got < 0) return got;
    std::memset(buf + got, 0, len - static_cast<std::size_t>(got));
    const std::uint64_t first = static_cast<std::uint64_t>(off) / kPageSize;
    const std::uint64_t end = (static_cast<std::uint64_t>(off) + len + kPageSize - 1) / kPageSize;
    for (auto it = in.dirty.lower_bound(first); it != in.dirty.end() && it->first < end; ++it) {
      const off_t pstart = static_cast<off_t>(it->first * kPageSize);
      const off_t from = std::max(pstart, off);
      const off_t to = std::min<off_t>(pstart + static_cast<off_t>(kPageSize), off + static_cast<off_t>(len));
      std::memcpy(buf + (from - off), it->second.data.data() + (from - pstart), static_cast<std::size_t>(to - from));
    }
    const std::uint64_t cold_end =
        std::min<std::uint64_t>(end, (static_cast<std::uint64_t>(valid) + kPageSize - 1) / kPageSize);
    for (auto [a, b] : in.warm.missing(first, cold_end)) {
      const std::uint64_t bytes =
          std::min<std::uint64_t>(b * kPageSize, static_cast<std::uint64_t>(valid)) - a * kPageSize;
      reads.push_back(IoRun{file_id(st), a * kPageSize, bytes});
    }
    in.warm.insert(first, end);
    done = static_cast<long>(len);
  }
  if (!reads.empty()) device_.charge(IoKind::read, reads, false);
  return done;
}

// --torn-pages: the first sector of the last page a write touched goes to the
// backing file at once, over the bytes the backing file already holds.
void PageCache::tear_locked(Inode& in, int fd, std::uint64_t pgno, const struct stat& st) {
  const off_t start = static_cast<off_t>(pgno * kPageSize);
  const off_t valid = std::min<off_t>(st.st_size, in.trunc_floor);
  if (start >= valid) return;
  const auto len = static_cast<std::size_t>(std::min<off_t>(kSectorSize, valid - start));
  const int rc = pwrite_full(fd, in.dirty.at(pgno).data.data(), len, start);
  if (rc < 0) {
    log("torn-page write-through failed: " + std::string(std::strerror(-rc)));
    return;
  }
  ++stats_.torn_sectors;
}

long PageCache::write(int fd, const char* buf, std::size_t size, off_t off, bool sync) {
  if (size == 0) return 0;
  std::vector<IoRun> reads, writes;
  int rc = 0;
  {
    std::lock_guard lock(mu_);
    balance_locked(writes);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return -errno;
    Inode* in = dirty_inode_locked(fd, st, &rc);
    if (!in) return rc;
    const auto uoff = static_cast<std::uint64_t>(off);
    const std::uint64_t first = uoff / kPageSize, last = (uoff + size - 1) / kPageSize;
    for (std::uint64_t p = first; p <= last; ++p) {
      const std::uint64_t pstart = p * kPageSize;
      const std::uint64_t from = std::max(pstart, uoff), to = std::min(pstart + kPageSize, uoff + size);
      Page* page = page_locked(*in, fd, p, st, from == pstart && to == pstart + kPageSize, reads, &rc);
      if (!page) return rc;
      std::memcpy(page->data.data() + (from - pstart), buf + (from - uoff), to - from);
    }
    in->size = std::max<off_t>(in->size, off + static_cast<off_t>(size));
    in->warm.insert(first, last + 1);
    in->written_since_sync = true;
    in->mtime = realtime_now();
    if (options_.torn_pages) tear_locked(*in, fd, last, st);
    if (sync) {
      ++stats_.fsyncs;
      rc = writeback_locked(*in, writes);
      if (rc == 0) in->written_since_sync = false;
    }
  }
  if (!reads.empty()) device_.charge(IoKind::read, reads, false);
  if (!writes.empty() || sync) device_.charge(IoKind::write, writes, sync);
  return rc < 0 ? rc : static_cast<long>(size);
}

int PageCache::truncate(int fd, off_t size) {
  if (size < 0) return -EINVAL;
  std::lock_guard lock(mu_);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return -errno;
  if (inode_locked(st).fd.get() < 0 && size == st.st_size) return 0;  // unchanged: stays clean, as its times
  int rc = 0;
  Inode* in = dirty_inode_locked(fd, st, &rc);
  if (!in) return rc;
  const auto usize = static_cast<std::uint64_t>(size);
  for (auto it = in->dirty.lower_bound((usize + kPageSize - 1) / kPageSize); it != in->dirty.end();) {
    it = in->dirty.erase(it);
    stats_.dirty_bytes -= kPageSize;
  }
  if (auto it = in->dirty.find(usize / kPageSize); it != in->dirty.end())
    std::memset(it->second.data.data() + usize % kPageSize, 0, kPageSize - usize % kPageSize);
  in->trunc_floor = std::min(in->trunc_floor, size);
  in->size = size;
  in->written_since_sync = true;
  in->mtime = realtime_now();
  return 0;
}

int PageCache::extend(int fd, off_t size) {
  std::lock_guard lock(mu_);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return -errno;
  if (Inode& known = inode_locked(st); known.fd.get() < 0 && size <= st.st_size) return 0;
  int rc = 0;
  Inode* in = dirty_inode_locked(fd, st, &rc);
  if (!in) return rc;
  if (size > in->size) {
    in->size = size;
    in->written_since_sync = true;
  }
  return 0;
}

// Writes a dirty inode back: the truncation first, then every run of
// contiguous dirty pages, then the size. On failure the inode stays dirty.
int PageCache::writeback_locked(Inode& in, std::vector<IoRun>& runs) {
  if (in.fd.get() < 0) return 0;
  const int fd = in.fd.get();
  struct stat st {};
  int rc = ::fstat(fd, &st) == 0 ? 0 : -errno;
  if (rc == 0 && in.trunc_floor < st.st_size && ::ftruncate(fd, in.trunc_floor) != 0) rc = -errno;
  std::uint64_t written = 0;
  std::vector<char> buf;
  for (auto it = in.dirty.begin(); rc == 0 && it != in.dirty.end();) {
    auto end = std::next(it);
    while (end != in.dirty.end() && end->first == std::prev(end)->first + 1) ++end;
    const std::uint64_t start = it->first * kPageSize;
    const std::uint64_t stop = std::min<std::uint64_t>((std::prev(end)->first + 1) * kPageSize, in.size);
    buf.resize(stop - start);
    for (std::uint64_t pos = start; it != end; ++it, pos += kPageSize)
      std::memcpy(buf.data() + (pos - start), it->second.data.data(), std::min(kPageSize, stop - pos));
    rc = pwrite_full(fd, buf.data(), buf.size(), static_cast<off_t>(start));
    if (rc == 0) runs.push_back(IoRun{file_id(st), start, buf.size()});
    written += buf.size();
  }
  if (rc == 0 && ::fstat(fd, &st) != 0) rc = -errno;
  if (rc == 0 && st.st_size != in.size && ::ftruncate(fd, in.size) != 0) rc = -errno;
  if (rc < 0) {
    ++stats_.writeback_errors;
    log("writeback of inode " + std::to_string(st.st_ino) + " failed: " + std::strerror(-rc) +
        " (its pages stay dirty; free space on the backing store's file system)");
    return rc;
  }
  stats_.durable_bytes += written;
  ++stats_.writebacks;
  make_clean_locked(in);
  return 0;
}

// Over the dirty limit (bytes, or inodes: each holds an fd), a writer first
// writes back the oldest dirty inodes.
int PageCache::balance_locked(std::vector<IoRun>& runs) {
  while (stats_.dirty_bytes > options_.dirty_limit_bytes || stats_.dirty_inodes >= options_.max_dirty_inodes) {
    Inode* oldest = nullptr;
    for (auto& [key, in] : inodes_)
      if (in.fd.get() >= 0 && (!oldest || in.dirtied_at < oldest->dirtied_at)) oldest = &in;
    if (!oldest) return 0;
    if (const int rc = writeback_locked(*oldest, runs); rc < 0) return rc;
  }
  return 0;
}

int PageCache::fsync(int fd) {
  std::vector<IoRun> runs;
  Inode* in = nullptr;
  Nanos wait_only = -1;
  {
    std::lock_guard lock(mu_);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return -errno;
    in = &inode_locked(st);
    ++stats_.fsyncs;
    if (in->fd.get() < 0 && !in->written_since_sync) {
      wait_only = in->durable_at;
    } else {
      if (const int rc = writeback_locked(*in, runs); rc < 0) return rc;
      in->written_since_sync = false;
    }
  }
  if (wait_only >= 0) {
    device_.wait_until(wait_only);  // nothing new since its last fsync: it only waits for that one
    return 0;
  }
  device_.charge(IoKind::write, runs, true);
  const Nanos end = device_.busy_until();
  std::lock_guard lock(mu_);
  in->durable_at = std::max(in->durable_at, end);
  return 0;
}

int PageCache::writeback(int fd) {
  std::vector<IoRun> runs;
  {
    std::lock_guard lock(mu_);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return -errno;
    if (const int rc = writeback_locked(inode_locked(st), runs); rc < 0) return rc;
  }
  if (!runs.empty()) device_.charge(IoKind::write, runs, false);
  return 0;
}

int PageCache::sync_dir() {
  {
    std::lock_guard lock(mu_);
    ++stats_.fsyncs;
  }
  device_.charge(IoKind::write, {}, true);
  return 0;
}

void PageCache::overlay_stat(struct stat& st) const {
  std::lock_guard lock(mu_);
  auto it = inodes_.find(Key{st.st_dev, st.st_ino});
  if (it == inodes_.end() || it->second.fd.get() < 0) return;
  const Inode& in = it->second;
  st.st_size = in.size;
  st.st_blocks = std::max<blkcnt_t>(st.st_blocks, (in.size + 511) / 512);
  st.st_mtim = in.mtime;
  st.st_ctim = in.mtime;
}

std::size_t PageCache::writeback_expired() {
  std::vector<IoRun> runs;
  std::size_t n = 0;
  {
    std::lock_guard lock(mu_);
    const Nanos now = now_();
    for (auto& [key, in] : inodes_)
      if (in.fd.get() >= 0 && now - in.dirtied_at >= options_.dirty_expire && writeback_locked(in, runs) == 0) ++n;
  }
  if (!runs.empty()) device_.charge(IoKind::write, runs, false);
  return n;
}

std::size_t PageCache::writeback_all() {
  std::vector<IoRun> runs;
  std::size_t failed = 0;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, in] : inodes_)
      if (in.fd.get() >= 0 && writeback_locked(in, runs) != 0) ++failed;
  }
  device_.charge(IoKind::write, runs, true);
  return failed;
}

CacheStats PageCache::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

BackgroundWriteback::BackgroundWriteback(PageCache& cache, Nanos interval)
    : cache_(cache), interval_(interval), thread_([this] { run(); }) {}

BackgroundWriteback::~BackgroundWriteback() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BackgroundWriteback::run() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::nanoseconds(interval_), [this] { return stop_; })) {
    lock.unlock();
    cache_.writeback_expired();
    lock.lock();
  }
}

}  // namespace haverify::labdisk
