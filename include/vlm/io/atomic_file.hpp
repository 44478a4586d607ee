// atomic_file: write a file so that readers see either the old contents or the complete new
// ones, never a torn write. Bytes go to a unique '<name>.tmp.<pid>.<random>' beside the target
// (same folder, so rename(2) is atomic), which is flushed and fsync'ed, then renamed over the
// target; the folder is fsync'ed too so the rename survives a crash. POSIX only.
//   atomic_write("ckpt/model.safetensors", [&](std::ostream& os) { os.write(p, n); });
#pragma once
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <random>
#include <streambuf>
#include <string>
#include <vector>

#include "vlm/core/error.hpp"

namespace vlm::io {

namespace detail {

// A write-only streambuf over a POSIX file descriptor; remembers the first write error (errno)
// so commit() can say why instead of "stream is bad".
class fd_streambuf : public std::streambuf {
 public:
  explicit fd_streambuf(int fd) : fd_(fd), buf_(1 << 16) { setp(buf_.data(), buf_.data() + buf_.size()); }
  int error() const { return errno_; }
  // Writes out the buffer; false on error.
  bool flush_buffer() {
    const char* p = pbase();
    std::size_t n = static_cast<std::size_t>(pptr() - pbase());
    bool ok = write_all(p, n);
    setp(buf_.data(), buf_.data() + buf_.size());
    return ok;
  }

 protected:
  int_type overflow(int_type ch) override {
    if (!flush_buffer()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    // Large writes (tensor data) skip the buffer.
    if (n >= static_cast<std::streamsize>(buf_.size())) {
      if (!flush_buffer() || !write_all(s, static_cast<std::size_t>(n))) return 0;
      return n;
    }
    return std::streambuf::xsputn(s, n);
  }
  int sync() override { return flush_buffer() ? 0 : -1; }

 private:
  bool write_all(const char* p, std::size_t n) {
    if (errno_) return false;
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        errno_ = errno;
        return false;
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }
  int fd_;
  std::vector<char> buf_;
  int errno_ = 0;
};

inline std::string errno_text(int e) { return std::strerror(e); }

}  // namespace detail

// One pending atomic write. The destructor of an uncommitted atomic_file removes the
// temporary file and leaves the target untouched.
//   requires: the target's folder exists and is writable.
//   throws:   io_error naming the target (and the temporary file) when creating, writing,
//             syncing or renaming fails.
class atomic_file {
 public:
  explicit atomic_file(std::filesystem::path target) : target_(std::move(target)) {
    std::random_device rd;
    // O_EXCL: never clobber someone else's temporary file; retry a few names on collision.
    for (int attempt = 0; attempt < 16; ++attempt) {
      unsigned long long r = (static_cast<unsigned long long>(rd()) << 32) ^ rd();
      std::filesystem::path tmp = target_;
      tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(r % 1000000007ull);
      int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0) {
        fd_ = fd;
        tmp_ = std::move(tmp);
        break;
      }
      if (errno != EEXIST)
        fail<io_error>("[atomic_file] cannot create '", tmp.string(), "' to write '", target_.string(),
                       "': ", detail::errno_text(errno), ". Hint: does the folder exist and is it writable?");
    }
    if (fd_ < 0) fail<io_error>("[atomic_file] cannot find a free temporary name for '", target_.string(), "'");
    buf_ = std::make_unique<detail::fd_streambuf>(fd_);
    os_ = std::make_unique<std::ostream>(buf_.get());
  }
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file() { abandon(); }

  std::ostream& stream() { return *os_; }
  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return tmp_; }

  // Flushes, fsyncs, closes and renames the temporary file over the target.
  // On failure the temporary file is removed and the target keeps its old contents.
  void commit() {
    if (committed_) return;
    if (!os_) fail<io_error>("[atomic_file] commit of '", target_.string(), "' after a failed commit");
    os_->flush();
    if (!buf_->flush_buffer() || !os_->good()) {
      int e = buf_->error();
      abandon();
      fail<io_error>("[atomic_file] writing '", target_.string(), "' failed: ",
                     e ? detail::errno_text(e) : std::string("stream error"), ". Hint: disk full?");
    }
    if (::fsync(fd_) != 0) {
      int e = errno;
      abandon();
      fail<io_error>("[atomic_file] fsync of '", target_.string(), "' failed: ", detail::errno_text(e));
    }
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      int e = errno;
      abandon();
      fail<io_error>("[atomic_file] closing '", target_.string(), "' failed: ", detail::errno_text(e));
    }
    if (std::rename(tmp_.c_str(), target_.c_str()) != 0) {
      int e = errno;
      abandon();
      fail<io_error>("[atomic_file] renaming '", tmp_.string(), "' to '", target_.string(),
                     "' failed: ", detail::errno_text(e));
    }
    committed_ = true;
    // Make the rename durable; a folder that cannot be opened or synced is not an error.
    std::filesystem::path dir = target_.parent_path();
    if (dir.empty()) dir = ".";
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  void abandon() noexcept {
    if (committed_) return;
    os_.reset();
    buf_.reset();
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (!tmp_.empty()) {
      std::error_code ec;
      std::filesystem::remove(tmp_, ec);
      tmp_.clear();
    }
  }

  std::filesystem::path target_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
  std::unique_ptr<detail::fd_streambuf> buf_;
  std::unique_ptr<std::ostream> os_;
};

// Calls write(os) on a temporary file and commits it over path.
//   throws: io_error naming path when the file system fails; an exception thrown by `write`
//           propagates unchanged after the temporary file is removed (the target is untouched).
inline void atomic_write(const std::filesystem::path& path, const std::function<void(std::ostream&)>& write) {
  atomic_file f(path);
  write(f.stream());
  f.commit();
}

}  // namespace vlm::io
