// atomic_file: complete writes replace the target, failed ones leave it and no .tmp behind.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <vlm/io/atomic_file.hpp>

#include "io_test_util.hpp"

namespace fs = std::filesystem;
using Catch::Contains;

namespace {
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace

TEST_CASE("atomic_write creates and replaces a file, leaving no .tmp", "[cpu][io]") {
  vlm_test::temp_dir tmp;
  auto path = tmp / "ckpt.bin";
  vlm::io::atomic_write(path, [](std::ostream& os) { os << "first"; });
  CHECK(vlm_test::read_bytes(path) == "first");
  // A large write (bigger than the stream buffer) and small pieces mixed.
  std::string big(300000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  vlm::io::atomic_write(path, [&](std::ostream& os) {
    os << "head:";
    os.write(big.data(), static_cast<std::streamsize>(big.size()));
    os.put('!');
  });
  CHECK(vlm_test::read_bytes(path) == "head:" + big + "!");
  CHECK(listing(tmp.path) == std::vector<std::string>{"ckpt.bin"});
}

TEST_CASE("atomic_write keeps the old file when the writer throws", "[cpu][io]") {
  vlm_test::temp_dir tmp;
  auto path = tmp / "model.safetensors";
  vlm_test::write_bytes(path, "old contents");
  fs::path seen_tmp;
  CHECK_THROWS_WITH(vlm::io::atomic_write(path,
                                          [&](std::ostream& os) {
                                            os << std::string(100000, 'n');
                                            os.flush();
                                            throw std::runtime_error("writer failed halfway");
                                          }),
                    "writer failed halfway");
  CHECK(vlm_test::read_bytes(path) == "old contents");
  CHECK(listing(tmp.path) == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("atomic_file: the temporary file sits beside the target until commit", "[cpu][io]") {
  vlm_test::temp_dir tmp;
  auto path = tmp / "a.json";
  {
    vlm::io::atomic_file f(path);
    auto name = f.temp_path().filename().string();
    CHECK(name.rfind("a.json.tmp.", 0) == 0);
    CHECK(f.temp_path().parent_path() == tmp.path);
    f.stream() << "{}";
    CHECK(fs::exists(f.temp_path()));
    CHECK_FALSE(fs::exists(path));
    // Two pending writes of the same target get different temporary names.
    vlm::io::atomic_file g(path);
    CHECK(g.temp_path() != f.temp_path());
    f.commit();
    CHECK(vlm_test::read_bytes(path) == "{}");
  }  // g is abandoned: its temporary file goes, the committed target stays
  CHECK(listing(tmp.path) == std::vector<std::string>{"a.json"});
}

TEST_CASE("atomic_file errors name the target", "[cpu][io]") {
  vlm_test::temp_dir tmp;
  auto path = tmp / "no_such_dir" / "x.bin";
  CHECK_THROWS_AS(vlm::io::atomic_write(path, [](std::ostream&) {}), vlm::io_error);
  CHECK_THROWS_WITH(vlm::io::atomic_write(path, [](std::ostream&) {}),
                    Contains("[atomic_file] cannot create") && Contains("x.bin") && Contains("No such file"));
  // Renaming over a folder fails; the temporary file is cleaned up.
  fs::create_directory(tmp / "adir");
  fs::create_directory(tmp / "adir" / "inner");
  CHECK_THROWS_WITH(vlm::io::atomic_write(tmp / "adir", [](std::ostream& os) { os << "x"; }),
                    Contains("renaming") && Contains("adir"));
  CHECK(listing(tmp.path) == std::vector<std::string>{"adir"});
}

#if defined(__linux__)
TEST_CASE("atomic_file's stream reports a failed write with its errno", "[cpu][io]") {
  // /dev/full fails every write with ENOSPC: the error commit() would report.
  int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;  // no /dev/full in this sandbox
  {
    vlm::io::detail::fd_streambuf buf(fd);
    std::ostream os(&buf);
    os << std::string(1 << 17, 'z');
    os.flush();
    CHECK_FALSE(os.good());
    CHECK(buf.error() == ENOSPC);
  }
  ::close(fd);
}
#endif
