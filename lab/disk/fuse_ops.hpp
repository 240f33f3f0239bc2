#pragma once
// The lab disk's FUSE operations (libfuse3 high-level API): paths resolved
// under the backing store's directory fd, file data through the PageCache.
#define FUSE_USE_VERSION 312
#include <fuse.h>

#include <memory>
#include <string>

#include "lab/disk/log.hpp"
#include "lab/disk/page_cache.hpp"
#include "lab/disk/profile.hpp"

namespace haverify::labdisk {

// Everything one mounted lab disk owns; the FUSE private data.
struct Disk {
  Disk(UniqueFd root_fd, std::string backing_path, std::string mount_path, const DiskProfile& profile,
       CacheOptions options, Nanos writeback, Log& logger)
      : root(std::move(root_fd)),
        backing(std::move(backing_path)),
        mountpoint(std::move(mount_path)),
        log(logger),
        device(profile, steady_now, sleep_until_steady),
        cache(std::move(options), device, steady_now),
        writeback_interval(writeback) {}

  UniqueFd root;  // the backing store's directory
  std::string backing;
  std::string mountpoint;
  Log& log;
  Device device;
  PageCache cache;
  Nanos writeback_interval;
  std::string settings;                            // for the mount log line
  std::unique_ptr<BackgroundWriteback> writeback;  // started by init (after the daemon detached)
  std::size_t failed_at_unmount = 0;               // inodes destroy could not write back
};

const fuse_operations& disk_operations();

}  // namespace haverify::labdisk
