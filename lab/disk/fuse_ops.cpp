// The lab disk's FUSE operations (fuse_ops.hpp). Namespace operations go to
// the backing store at once; file data, sizes and fsyncs go through the
// PageCache. Every handle (fi->fh) is a backing-store fd, closed by release.
#include "lab/disk/fuse_ops.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace haverify::labdisk {

namespace {

Disk& disk() {
  return *static_cast<Disk*>(fuse_get_context()->private_data);
}
int root() {
  return disk().root.get();
}

// A FUSE path ("/a/b") relative to the backing store's directory fd.
const char* rel(const char* path) {
  while (*path == '/') ++path;
  return *path ? path : ".";
}

int fh_fd(const fuse_file_info* fi) {
  return static_cast<int>(fi->fh);
}

int result(int rc) {
  return rc == 0 ? 0 : -errno;
}

// Files and directories are created as the caller (the daemon runs as root).
int own_by_caller(const char* path) {
  const fuse_context* c = fuse_get_context();
  return result(::fchownat(root(), rel(path), c->uid, c->gid, AT_SYMLINK_NOFOLLOW));
}

// The backing fd's flags: read-write whenever the caller may write (a partial
// page write reads the page first); sync, append, direct and truncation are the
// lab disk's business, not the backing store's.
int backing_flags(int flags) {
  const bool reads_only = (flags & O_ACCMODE) == O_RDONLY && !(flags & O_TRUNC);
  return (reads_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW;
}

int op_getattr(const char* path, struct stat* st, fuse_file_info* fi) {
  const int rc = fi ? ::fstat(fh_fd(fi), st) : ::fstatat(root(), rel(path), st, AT_SYMLINK_NOFOLLOW);
  if (rc != 0) return -errno;
  if (S_ISREG(st->st_mode)) disk().cache.overlay_stat(*st);
  return 0;
}

int op_readlink(const char* path, char* buf, size_t size) {
  if (size == 0) return -EINVAL;
  const ssize_t n = ::readlinkat(root(), rel(path), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

int op_mknod(const char* path, mode_t mode, dev_t rdev) {
  if (::mknodat(root(), rel(path), mode, rdev) != 0) return -errno;
  return own_by_caller(path);
}

int op_mkdir(const char* path, mode_t mode) {
  if (::mkdirat(root(), rel(path), mode) != 0) return -errno;
  return own_by_caller(path);
}

int op_unlink(const char* path) {
  return result(::unlinkat(root(), rel(path), 0));
}
int op_rmdir(const char* path) {
  return result(::unlinkat(root(), rel(path), AT_REMOVEDIR));
}

int op_symlink(const char* target, const char* path) {
  if (::symlinkat(target, root(), rel(path)) != 0) return -errno;
  return own_by_caller(path);
}

int op_rename(const char* from, const char* to, unsigned int flags) {
  return result(::renameat2(root(), rel(from), root(), rel(to), flags));
}

int op_link(const char* from, const char* to) {
  return result(::linkat(root(), rel(from), root(), rel(to), 0));
}

int op_chmod(const char* path, mode_t mode, fuse_file_info* fi) {
  return result(fi ? ::fchmod(fh_fd(fi), mode) : ::fchmodat(root(), rel(path), mode, 0));
}

int op_chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
  return result(fi ? ::fchown(fh_fd(fi), uid, gid) : ::fchownat(root(), rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

int op_truncate(const char* path, off_t size, fuse_file_info* fi) {
  if (fi) return disk().cache.truncate(fh_fd(fi), size);
  UniqueFd fd(::openat(root(), rel(path), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return -errno;
  return disk().cache.truncate(fd.get(), size);
}

int op_utimens(const char* path, const struct timespec tv[2], fuse_file_info* fi) {
  UniqueFd opened;
  int fd = fi ? fh_fd(fi) : -1;
  struct stat st {};
  if (!fi && ::fstatat(root(), rel(path), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
    opened = UniqueFd(::openat(root(), rel(path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    fd = opened.get();
  }
  // A dirty file is written back first: its writeback would set the times again.
  if (fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
    if (const int rc = disk().cache.writeback(fd); rc < 0) return rc;
  return result(fd >= 0 ? ::futimens(fd, tv) : ::utimensat(root(), rel(path), tv, AT_SYMLINK_NOFOLLOW));
}

int op_open(const char* path, fuse_file_info* fi) {
  UniqueFd fd(::openat(root(), rel(path), backing_flags(fi->flags)));
  if (fd.get() < 0) return -errno;
  if (fi->flags & O_TRUNC)
    if (const int rc = disk().cache.truncate(fd.get(), 0); rc < 0) return rc;
  fi->fh = static_cast<uint64_t>(fd.release());
  return 0;
}

int op_create(const char* path, mode_t mode, fuse_file_info* fi) {
  UniqueFd fd(::openat(root(), rel(path), backing_flags(fi->flags) | O_CREAT | O_EXCL, mode));
  if (fd.get() < 0 && errno == EEXIST && !(fi->flags & O_EXCL)) return op_open(path, fi);
  if (fd.get() < 0) return -errno;
  const fuse_context* c = fuse_get_context();
  if (::fchown(fd.get(), c->uid, c->gid) != 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd.release());
  return 0;
}

int op_read(const char*, char* buf, size_t size, off_t off, fuse_file_info* fi) {
  return static_cast<int>(disk().cache.read(fh_fd(fi), buf, size, off));
}

int op_write(const char*, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  // O_SYNC is O_DSYNC plus a bit on Linux: both make the write durable.
  return static_cast<int>(disk().cache.write(fh_fd(fi), buf, size, off, (fi->flags & O_DSYNC) == O_DSYNC));
}

int op_statfs(const char*, struct statvfs* st) {
  return result(::fstatvfs(root(), st));
}

int op_flush(const char*, fuse_file_info*) {
  return 0;
}  // close(2) does not sync

int op_release(const char*, fuse_file_info* fi) {
  UniqueFd closing(fh_fd(fi));
  return 0;
}

int op_fsync(const char* path, int, fuse_file_info* fi) {
  if (fi) return disk().cache.fsync(fh_fd(fi));
  UniqueFd fd(::openat(root(), rel(path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  return fd.get() < 0 ? -errno : disk().cache.fsync(fd.get());
}

int op_opendir(const char* path, fuse_file_info* fi) {
  UniqueFd fd(::openat(root(), rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return -errno;
  fi->fh = static_cast<uint64_t>(fd.release());
  return 0;
}

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

// The whole directory in one call (offsets 0: libfuse buffers it).
int op_readdir(const char*, void* buf, fuse_fill_dir_t filler, off_t, fuse_file_info* fi, fuse_readdir_flags) {
  UniqueFd fd(::fcntl(fh_fd(fi), F_DUPFD_CLOEXEC, 0));
  if (fd.get() < 0) return -errno;
  std::unique_ptr<DIR, DirCloser> dir(::fdopendir(fd.get()));
  if (!dir) return -errno;
  fd.release();  // the DIR owns it now
  ::rewinddir(dir.get());
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(dir.get());
    if (!e) return -errno;
    struct stat st {};
    st.st_ino = e->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(e->d_type));
    if (filler(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0)) != 0) return 0;
  }
}

int op_releasedir(const char*, fuse_file_info* fi) {
  return op_release(nullptr, fi);
}

int op_fsyncdir(const char*, int, fuse_file_info*) {
  return disk().cache.sync_dir();
}

int op_fallocate(const char*, int mode, off_t off, off_t len, fuse_file_info* fi) {
  if (mode & ~FALLOC_FL_KEEP_SIZE) return -EOPNOTSUPP;  // glibc's posix_fallocate then writes zeros
  if (mode & FALLOC_FL_KEEP_SIZE) return 0;             // space is not modelled
  return disk().cache.extend(fh_fd(fi), off + len);
}

void* op_init(fuse_conn_info* conn, fuse_config* cfg) {
  cfg->use_ino = 1;      // the backing store's inode numbers: hard links look like hard links
  cfg->hard_remove = 1;  // no .fuse_hidden files in the backing store
  cfg->nullpath_ok = 1;  // handles of unlinked files keep working
  // The kernel's page cache of this mount is the truth, as a local file
  // system's: writes go through it to here (write-through, no writeback
  // cache: every write comes here, none waits in the kernel), and nothing
  // drops its pages behind a writer's back. Dropping them on open (no
  // kernel_cache) or on a changed mtime or size (auto_inval_data, implicit
  // invalidation) races with a write in flight: the page is re-read from here
  // before the write arrives and stays stale, so a walsender or a standby's
  // startup process read zeros where WAL had been written (docs/lab.md).
  cfg->kernel_cache = 1;
  conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_AUTO_INVAL_DATA);
  if (conn->capable & FUSE_CAP_EXPLICIT_INVAL_DATA) conn->want |= FUSE_CAP_EXPLICIT_INVAL_DATA;
  Disk& d = disk();
  d.writeback = std::make_unique<BackgroundWriteback>(d.cache, d.writeback_interval);
  d.log("mounted " + d.backing + " at " + d.mountpoint + " (" + d.settings + ")");
  return &d;
}

void op_destroy(void* data) {
  Disk& d = *static_cast<Disk*>(data);
  d.writeback.reset();
  d.failed_at_unmount = d.cache.writeback_all();
  const CacheStats c = d.cache.stats();
  const DeviceStats v = d.device.stats();
  char line[512];
  std::snprintf(line, sizeof line,
                "unmounted %s: %llu bytes made durable (%llu inode writebacks, %llu fsyncs, %llu cache flushes), "
                "%llu bytes read cold, device busy %.3f s, %llu torn sectors, %llu writeback errors, "
                "%zu inodes not written back",
                d.mountpoint.c_str(), static_cast<unsigned long long>(c.durable_bytes),
                static_cast<unsigned long long>(c.writebacks), static_cast<unsigned long long>(c.fsyncs),
                static_cast<unsigned long long>(v.flushes), static_cast<unsigned long long>(v.bytes_read),
                static_cast<double>(v.busy) / 1e9, static_cast<unsigned long long>(c.torn_sectors),
                static_cast<unsigned long long>(c.writeback_errors), d.failed_at_unmount);
  d.log(line);
}

fuse_operations make_operations() {
  fuse_operations ops{};
  ops.getattr = op_getattr;
  ops.readlink = op_readlink;
  ops.mknod = op_mknod;
  ops.mkdir = op_mkdir;
  ops.unlink = op_unlink;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.rename = op_rename;
  ops.link = op_link;
  ops.chmod = op_chmod;
  ops.chown = op_chown;
  ops.truncate = op_truncate;
  ops.open = op_open;
  ops.read = op_read;
  ops.write = op_write;
  ops.statfs = op_statfs;
  ops.flush = op_flush;
  ops.release = op_release;
  ops.fsync = op_fsync;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_releasedir;
  ops.fsyncdir = op_fsyncdir;
  ops.init = op_init;
  ops.destroy = op_destroy;
  ops.create = op_create;
  ops.utimens = op_utimens;
  ops.fallocate = op_fallocate;
  return ops;
}

}  // namespace

const fuse_operations& disk_operations() {
  static const fuse_operations ops = make_operations();
  return ops;
}

}  // namespace haverify::labdisk
