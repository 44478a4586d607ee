// safetensors I/O: an mmap'd reader with zero-copy tensor views, a multi-shard folder reader
// (model.safetensors.index.json) and an atomic writer.
// Format (https://github.com/huggingface/safetensors): 8-byte little-endian header length N,
// N bytes of JSON {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [b, e)}},
// then the data section; offsets are relative to its start. Validation follows the Rust crate:
// ranges sorted by begin must tile the data section exactly (no overlap, no gap, no tail).
// Supported dtypes: F32 BF16 F16 I32 I64 U8 BOOL. Little-endian hosts only.
#pragma once
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>  // header parsing and writing (ordered_json keeps key order)
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vlm/core/dtype.hpp"
#include "vlm/core/error.hpp"
#include "vlm/core/shape.hpp"
#include "vlm/core/tensor.hpp"
#include "vlm/io/atomic_file.hpp"

namespace vlm::io {

static_assert(std::endian::native == std::endian::little,
              "vlm::io::safetensors reads and writes little-endian data in place; big-endian hosts are "
              "not supported");

using metadata_map = std::map<std::string, std::string>;

// One tensor's entry in a file's header.
struct tensor_info {
  std::string name;
  vlm::dtype type = dtype::f32;
  vlm::shape shape;
  std::size_t begin = 0, end = 0;  // byte range [begin, end) relative to the data section
  std::size_t bytes() const { return end - begin; }
};

// A type-erased tensor to write: name, dtype, shape and contiguous row-major bytes. `owner`
// keeps the bytes alive when the ref was made from a copy (or from a mapped file).
struct tensor_ref {
  std::string name;
  vlm::dtype type = dtype::f32;
  vlm::shape shape;
  const void* data = nullptr;
  std::shared_ptr<const void> owner;

  // A ref to t's elements; non-contiguous tensors are copied (the copy is held by `owner`).
  template <class T>
  static tensor_ref of(std::string name, const tensor<T, cpu>& t) {
    tensor<T, cpu> c = t.contiguous();
    tensor_ref r{std::move(name), dtype_of_v<T>, c.shape(), c.data(), nullptr};
    r.owner = std::shared_ptr<const void>(c.storage_ptr(), c.data());
    return r;
  }
};

namespace detail {

inline constexpr std::string_view supported_dtypes = "F32, BF16, F16, I32, I64, U8, BOOL";

inline std::optional<vlm::dtype> parse_dtype(std::string_view s) {
  for (dtype d : {dtype::f32, dtype::bf16, dtype::f16, dtype::i32, dtype::i64, dtype::u8, dtype::boolean})
    if (dtype_name(d) == s) return d;
  return std::nullopt;
}

inline std::string json_kind(const nlohmann::json& j) {
  if (j.is_number_float()) return "a non-integer number " + j.dump();
  if (j.is_number_integer() && !j.is_number_unsigned()) return "a negative number " + j.dump();
  if (j.is_number()) return "the number " + j.dump();
  return std::string(j.is_string() ? "a string" : j.type_name()) + " " + j.dump().substr(0, 40);
}

// Levenshtein distance (error paths only).
inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// "'a', 'b', 'c'": the k candidates nearest to `name` by edit distance (ties: longer common prefix).
inline std::string close_names(std::string_view name, const std::vector<std::string_view>& candidates,
                               std::size_t k = 3) {
  struct scored {
    std::size_t dist, prefix;
    std::string_view s;
  };
  std::vector<scored> v;
  v.reserve(candidates.size());
  for (std::string_view c : candidates) {
    std::size_t p = 0;
    while (p < c.size() && p < name.size() && c[p] == name[p]) ++p;
    v.push_back({edit_distance(name, c), p, c});
  }
  std::size_t n = std::min(k, v.size());
  std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n), v.end(), [](const scored& a, const scored& b) {
    if (a.dist != b.dist) return a.dist < b.dist;
    if (a.prefix != b.prefix) return a.prefix > b.prefix;
    return a.s < b.s;
  });
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += (i ? ", '" : "'") + std::string(v[i].s) + "'";
  return out;
}

// A read-only file mapped copy-on-write: views may be written to (a private copy of the page is
// made), the file never changes.
struct mapping {
  void* addr = nullptr;
  std::size_t size = 0;
  mapping() = default;
  mapping(const mapping&) = delete;
  mapping& operator=(const mapping&) = delete;
  ~mapping() {
    if (addr) ::munmap(addr, size);
  }
  const std::byte* bytes() const { return static_cast<const std::byte*>(addr); }
};

inline std::shared_ptr<mapping> map_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail<io_error>("[safetensors] cannot open '", path.string(), "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail<io_error>("[safetensors] cannot stat '", path.string(), "': ", std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail<io_error>("[safetensors] '", path.string(), "' is not a regular file",
                   S_ISDIR(st.st_mode) ? ". Hint: use safetensors_dir::open for a folder" : "");
  }
  auto m = std::make_shared<mapping>();
  m->size = static_cast<std::size_t>(st.st_size);
  if (m->size < 8) {
    ::close(fd);
    fail<format_error>("[safetensors] file is ", m->size, " bytes, expected at least 8 (the header length) in '",
                       path.string(), "'. Hint: empty or truncated file?");
  }
  void* p = ::mmap(nullptr, m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);  // the mapping stays valid after close
  if (p == MAP_FAILED) fail<io_error>("[safetensors] cannot mmap '", path.string(), "': ", std::strerror(e));
  m->addr = p;
  return m;
}

// Parses the JSON header, reporting the first duplicate key (nlohmann keeps the last one silently).
struct header_parse {
  nlohmann::json json;
  std::string duplicate;         // "" when none
  std::string duplicate_parent;  // enclosing key ("" at the top level)
};

inline header_parse parse_header_json(std::string_view text) {
  header_parse out;
  std::vector<std::vector<std::string>> keys;  // keys seen per open object
  std::vector<std::string> path;               // current key at each depth
  auto cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) keys.emplace_back();
    else if (ev == E::object_end) keys.pop_back();
    else if (ev == E::key && !keys.empty()) {
      std::string k = parsed.get<std::string>();
      path.resize(static_cast<std::size_t>(std::max(depth - 1, 0)));
      auto& seen = keys.back();
      if (out.duplicate.empty() && std::find(seen.begin(), seen.end(), k) != seen.end()) {
        out.duplicate = k;
        out.duplicate_parent = path.empty() ? "" : path.back();
      }
      seen.push_back(k);
      path.push_back(std::move(k));
    }
    return true;
  };
  out.json = nlohmann::json::parse(text.begin(), text.end(), cb);
  return out;
}

// Reads element i of a typed byte buffer as To (memcpy: the source may be unaligned).
template <class To, class From>
To load_as(const std::byte* p, std::size_t i) {
  From x;
  std::memcpy(&x, p + i * sizeof(From), sizeof(From));
  return convert<To>(x);
}

}  // namespace detail

// An open .safetensors file. Copies share the mapping; views returned by get() keep it alive
// after the file object is gone.
class safetensors_file {
 public:
  // throws: io_error (cannot open/map), format_error (any malformed header or layout); the
  //         message names the file, the tensor and what was expected.
  static safetensors_file open(const std::filesystem::path& path) {
    safetensors_file f;
    f.path_ = path;
    f.map_ = detail::map_file(path);
    f.parse();
    return f;
  }

  const std::filesystem::path& path() const { return path_; }
  const metadata_map& metadata() const { return metadata_; }
  // All entries, sorted by name.
  const std::vector<tensor_info>& tensors() const { return tensors_; }
  std::size_t size() const { return tensors_.size(); }
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (const auto& t : tensors_) v.push_back(t.name);
    return v;
  }
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  const tensor_info* find(std::string_view name) const {
    auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                               [](const tensor_info& t, std::string_view n) { return t.name < n; });
    return it != tensors_.end() && it->name == name ? &*it : nullptr;
  }
  // throws: format_error naming the tensor, the file and the closest names.
  const tensor_info& info(std::string_view name) const {
    if (const tensor_info* t = find(name)) return *t;
    std::vector<std::string_view> all;
    for (const auto& t : tensors_) all.push_back(t.name);
    fail<format_error>("[safetensors] tensor '", name, "': not found in '", path_.string(), "' (", tensors_.size(),
                       " tensors). Hint: close names: ", all.empty() ? "none" : detail::close_names(name, all));
  }
  // The stored bytes of a tensor (row-major, little-endian).
  std::span<const std::byte> bytes(std::string_view name) const {
    const tensor_info& t = info(name);
    return {data_begin() + t.begin, t.bytes()};
  }

  // Zero-copy view of a tensor stored as T (copied only if the stored bytes are not aligned
  // for T, which files written by the Python library never are). Writes to the view change
  // this process's copy-on-write pages, never the file.
  // throws: format_error if the stored dtype is not T (hint: get_as), or a BOOL byte is not 0/1.
  template <class T>
  tensor<T, cpu> get(std::string_view name) const {
    const tensor_info& t = info(name);
    if (t.type != dtype_of_v<T>)
      fail<format_error>("[safetensors] tensor '", t.name, "': stored as ", dtype_name(t.type), ", expected ",
                         dtype_name(dtype_of_v<T>), " (the requested element type) in '", path_.string(),
                         "'. Hint: use get_as<T>() to convert");
    const std::byte* p = data_begin() + t.begin;
    if constexpr (std::is_same_v<T, bool>) {
      for (std::size_t i = 0; i < t.bytes(); ++i)
        if (std::to_integer<unsigned>(p[i]) > 1)
          fail<format_error>("[safetensors] tensor '", t.name, "': BOOL element ", i, " is ",
                             std::to_integer<unsigned>(p[i]), ", expected 0 or 1 in '", path_.string(), "'");
    }
    if (reinterpret_cast<std::uintptr_t>(p) % alignof(T) != 0) {
      auto out = tensor<T, cpu>::empty(t.shape);
      if (t.bytes()) std::memcpy(static_cast<void*>(out.data()), p, t.bytes());
      return out;
    }
    std::shared_ptr<const void> keep(map_, map_.get());
    return tensor<T, cpu>::borrow(t.shape, reinterpret_cast<T*>(const_cast<std::byte*>(p)), std::move(keep));
  }

  // The tensor as T: a zero-copy view when stored as T, else a converted copy (any supported
  // stored dtype; float -> half rounds to nearest even; float -> integer truncates).
  template <class T>
  tensor<T, cpu> get_as(std::string_view name) const {
    const tensor_info& t = info(name);
    if (t.type == dtype_of_v<T>) return get<T>(name);
    auto out = tensor<T, cpu>::empty(t.shape);
    const std::byte* p = data_begin() + t.begin;
    T* o = out.data();
    const std::size_t n = static_cast<std::size_t>(t.shape.numel());
    auto run = [&](auto tag) {
      using From = decltype(tag);
      for (std::size_t i = 0; i < n; ++i) o[i] = detail::load_as<T, From>(p, i);
    };
    switch (t.type) {
      case dtype::f32: run(float{}); break;
      case dtype::bf16: run(bf16{}); break;
      case dtype::f16: run(f16{}); break;
      case dtype::i32: run(std::int32_t{}); break;
      case dtype::i64: run(std::int64_t{}); break;
      case dtype::u8: run(std::uint8_t{}); break;
      case dtype::boolean:
        for (std::size_t i = 0; i < n; ++i) o[i] = convert<T>(std::to_integer<unsigned>(p[i]) != 0);
        break;
    }
    return out;
  }

  // A writer ref to a stored tensor (holds the mapping): re-save without copying.
  tensor_ref ref(std::string_view name) const {
    const tensor_info& t = info(name);
    return tensor_ref{t.name, t.type, t.shape, data_begin() + t.begin, std::shared_ptr<const void>(map_, map_.get())};
  }

 private:
  const std::byte* data_begin() const { return map_->bytes() + 8 + header_len_; }

  template <class... Parts>
  [[noreturn]] void bad(std::string_view tensor, const Parts&... parts) const {
    if (tensor.empty()) fail<format_error>("[safetensors] ", parts..., " in '", path_.string(), "'");
    fail<format_error>("[safetensors] tensor '", tensor, "': ", parts..., " in '", path_.string(), "'");
  }
  template <class... Parts>
  [[noreturn]] void bad_hint(std::string_view tensor, std::string_view hint, const Parts&... parts) const {
    fail<format_error>("[safetensors] ", tensor.empty() ? "" : "tensor '", tensor, tensor.empty() ? "" : "': ",
                       parts..., " in '", path_.string(), "'. Hint: ", hint);
  }

  // Reads a JSON array of non-negative integers that fit in int64.
  std::vector<std::int64_t> read_uints(const std::string& name, const char* field, const nlohmann::json& j) const {
    if (!j.is_array()) bad(name, "'", field, "' is ", detail::json_kind(j), ", expected an array of integers");
    std::vector<std::int64_t> v;
    for (std::size_t i = 0; i < j.size(); ++i) {
      const auto& x = j[i];
      if (!x.is_number_unsigned() || x.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
        bad(name, "'", field, "'[", i, "] is ", detail::json_kind(x), ", expected a non-negative integer");
      v.push_back(static_cast<std::int64_t>(x.get<std::uint64_t>()));
    }
    return v;
  }

  void parse() {
    const std::size_t file_size = map_->size;
    std::uint64_t n = 0;
    std::memcpy(&n, map_->bytes(), 8);
    if (n > file_size - 8)
      bad_hint("", "truncated file, or not a safetensors file?", "header length ", n, " runs past the end of the file, expected at most ",
               file_size - 8, " (file size ", file_size, " - 8)");
    if (n == 0) bad_hint("", "not a safetensors file?", "header length is 0, expected a JSON object");
    header_len_ = static_cast<std::size_t>(n);
    const std::size_t data_size = file_size - 8 - header_len_;
    std::string_view text(reinterpret_cast<const char*>(map_->bytes() + 8), header_len_);

    detail::header_parse h;
    try {
      h = detail::parse_header_json(text);
    } catch (const nlohmann::json::exception& e) {
      bad_hint("", "truncated or corrupted header?", "header is not valid JSON (", e.what(), ")");
    }
    if (!h.json.is_object()) bad("", "header is ", h.json.type_name(), ", expected a JSON object");
    if (!h.duplicate.empty()) {
      if (h.duplicate_parent.empty()) bad(h.duplicate, "name appears twice in the header, expected unique names");
      bad(h.duplicate_parent, "key '", h.duplicate, "' appears twice, expected unique keys");
    }

    for (auto it = h.json.begin(); it != h.json.end(); ++it) {
      const std::string& name = it.key();
      const nlohmann::json& e = it.value();
      if (name == "__metadata__") {
        if (!e.is_object()) bad("", "'__metadata__' is ", detail::json_kind(e), ", expected an object of strings");
        for (auto m = e.begin(); m != e.end(); ++m) {
          if (!m.value().is_string())
            bad("", "'__metadata__' value for '", m.key(), "' is ", detail::json_kind(m.value()), ", expected a string");
          metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      if (!e.is_object()) bad(name, "entry is ", detail::json_kind(e), ", expected an object with dtype, shape, data_offsets");
      for (const char* key : {"dtype", "shape", "data_offsets"})
        if (!e.contains(key)) bad(name, "missing '", key, "', expected an object with dtype, shape, data_offsets");
      const auto& jd = e["dtype"];
      if (!jd.is_string()) bad(name, "'dtype' is ", detail::json_kind(jd), ", expected a string like \"F32\"");
      std::string ds = jd.get<std::string>();
      auto d = detail::parse_dtype(ds);
      if (!d) bad(name, "unsupported dtype '", ds, "', expected one of ", detail::supported_dtypes);

      std::vector<std::int64_t> dims = read_uints(name, "shape", e["shape"]);
      if (dims.size() > static_cast<std::size_t>(max_rank))
        bad(name, "shape has rank ", dims.size(), ", expected at most ", max_rank);
      std::vector<std::int64_t> off = read_uints(name, "data_offsets", e["data_offsets"]);
      if (off.size() != 2) bad(name, "'data_offsets' has ", off.size(), " numbers, expected 2 ([begin, end))");
      if (off[1] < off[0]) bad(name, "data_offsets [", off[0], ", ", off[1], ") end before begin, expected begin <= end");
      vlm::shape s(dims);
      std::uint64_t expect = dtype_size(*d);
      bool overflow = false;
      for (std::int64_t x : dims) overflow |= __builtin_mul_overflow(expect, static_cast<std::uint64_t>(x), &expect);
      if (overflow) bad(name, "shape ", s.str(), " x ", ds, " overflows 64 bits, expected a real tensor size");
      std::uint64_t span = static_cast<std::uint64_t>(off[1] - off[0]);
      if (span != expect)
        bad_hint(name, "header and shape disagree; corrupted or hand-edited header?", "data_offsets [", off[0], ", ",
                 off[1], ") span ", span, " bytes, expected ", expect, " (shape ", s.str(), " x ", ds, ")");
      if (static_cast<std::uint64_t>(off[1]) > data_size)
        bad_hint(name, "incomplete download?", "data_offsets [", off[0], ", ", off[1],
                 ") end beyond the data section, expected end <= ", data_size);
      tensors_.push_back({name, *d, s, static_cast<std::size_t>(off[0]), static_cast<std::size_t>(off[1])});
    }

    // Ranges sorted by begin must tile [0, data_size): no overlap, no gap, no trailing bytes.
    std::vector<const tensor_info*> by_off;
    for (const auto& t : tensors_) by_off.push_back(&t);
    std::sort(by_off.begin(), by_off.end(), [](const tensor_info* a, const tensor_info* b) {
      return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    std::size_t covered = 0;
    const tensor_info* prev = nullptr;
    for (const tensor_info* t : by_off) {
      if (t->begin < covered)
        bad(t->name, "data_offsets [", t->begin, ", ", t->end, ") overlap tensor '", prev->name, "' [", prev->begin,
            ", ", prev->end, "), expected begin >= ", covered);
      if (t->begin > covered)
        bad(t->name, "data_offsets [", t->begin, ", ", t->end, ") leave bytes [", covered, ", ", t->begin,
            ") of the data section unused, expected begin == ", covered);
      covered = t->end;
      if (t->bytes() || !prev || prev->end <= t->end) prev = t;
    }
    if (covered != data_size)
      bad_hint("", "the file has extra bytes, or a tensor is missing from the header", "data section is ", data_size,
               " bytes but tensors cover ", covered, ", expected them to cover all of it");

    std::sort(tensors_.begin(), tensors_.end(), [](const tensor_info& a, const tensor_info& b) { return a.name < b.name; });
  }

  std::filesystem::path path_;
  std::shared_ptr<detail::mapping> map_;
  std::size_t header_len_ = 0;
  metadata_map metadata_;
  std::vector<tensor_info> tensors_;
};

// A checkpoint folder: model.safetensors.index.json (weight_map: name -> shard file), else a
// single model.safetensors, else every *.safetensors file in it. open() also accepts the path
// of one .safetensors file.
class safetensors_dir {
 public:
  // throws: io_error (missing folder/files), format_error (bad index, bad shard, a tensor listed
  //         in the index but absent from its shard, a name present in two shards).
  static safetensors_dir open(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    safetensors_dir d;
    d.path_ = dir;
    std::error_code ec;
    if (fs::is_regular_file(dir, ec)) {
      d.add_all(safetensors_file::open(dir));
      return d;
    }
    if (!fs::is_directory(dir, ec))
      fail<io_error>("[safetensors] folder '", dir.string(), "' does not exist or is not a folder");
    fs::path index = dir / "model.safetensors.index.json";
    if (fs::exists(index, ec)) {
      d.open_index(index);
    } else if (fs::exists(dir / "model.safetensors", ec)) {
      d.add_all(safetensors_file::open(dir / "model.safetensors"));
    } else {
      std::vector<fs::path> shards;
      for (const auto& ent : fs::directory_iterator(dir, ec))
        if (ent.path().extension() == ".safetensors") shards.push_back(ent.path());
      if (shards.empty())
        fail<io_error>("[safetensors] no model.safetensors.index.json, model.safetensors or *.safetensors in '",
                       dir.string(), "'. Hint: is this a Hugging Face checkpoint folder?");
      std::sort(shards.begin(), shards.end());
      for (const auto& s : shards) d.add_all(safetensors_file::open(s));
    }
    return d;
  }

  const std::filesystem::path& path() const { return path_; }
  const std::vector<safetensors_file>& files() const { return files_; }
  // The index's "metadata" object ("total_size" etc.) as text; empty without an index.
  const metadata_map& index_metadata() const { return index_metadata_; }
  std::size_t size() const { return where_.size(); }
  // All tensor names, sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (const auto& [n, i] : where_) v.push_back(n);
    return v;
  }
  bool contains(std::string_view name) const { return where_.find(name) != where_.end(); }
  // throws: format_error naming the tensor, the folder and the closest names.
  const safetensors_file& file_of(std::string_view name) const {
    auto it = where_.find(name);
    if (it != where_.end()) return files_[it->second];
    std::vector<std::string_view> all;
    for (const auto& [n, i] : where_) all.push_back(n);
    fail<format_error>("[safetensors] tensor '", name, "': not found in folder '", path_.string(), "' (",
                       where_.size(), " tensors in ", files_.size(), " files). Hint: close names: ",
                       all.empty() ? "none" : detail::close_names(name, all));
  }
  const tensor_info& info(std::string_view name) const { return file_of(name).info(name); }
  template <class T>
  tensor<T, cpu> get(std::string_view name) const { return file_of(name).template get<T>(name); }
  template <class T>
  tensor<T, cpu> get_as(std::string_view name) const { return file_of(name).template get_as<T>(name); }

 private:
  void add(const std::string& name, std::size_t file) {
    auto [it, inserted] = where_.emplace(name, file);
    if (!inserted)
      fail<format_error>("[safetensors] tensor '", name, "': found in both '", files_[it->second].path().string(),
                         "' and '", files_[file].path().string(), "', expected one copy in folder '", path_.string(),
                         "'. Hint: stray shards from another checkpoint?");
  }
  void add_all(safetensors_file f) {
    files_.push_back(std::move(f));
    for (const auto& t : files_.back().tensors()) add(t.name, files_.size() - 1);
  }
  void open_index(const std::filesystem::path& index) {
    std::ifstream in(index, std::ios::binary);
    if (!in) fail<io_error>("[safetensors] cannot read '", index.string(), "'");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      fail<format_error>("[safetensors] index is not valid JSON (", e.what(), ") in '", index.string(), "'");
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail<format_error>("[safetensors] index has no 'weight_map' object, expected {\"weight_map\": {name: file}} in '",
                         index.string(), "'");
    if (j.contains("metadata") && j["metadata"].is_object())
      for (auto m = j["metadata"].begin(); m != j["metadata"].end(); ++m)
        index_metadata_[m.key()] = m.value().is_string() ? m.value().get<std::string>() : m.value().dump();
    std::map<std::string, std::size_t> shard_index;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      const std::string& name = it.key();
      if (!it.value().is_string())
        fail<format_error>("[safetensors] tensor '", name, "': weight_map value is ", detail::json_kind(it.value()),
                           ", expected a file name in '", index.string(), "'");
      std::string shard = it.value().get<std::string>();
      std::filesystem::path sp(shard);
      if (shard.empty() || sp.has_parent_path() || shard == "." || shard == "..")
        fail<format_error>("[safetensors] tensor '", name, "': weight_map file '", shard,
                           "', expected a file name inside the folder in '", index.string(), "'");
      auto [s, fresh] = shard_index.emplace(shard, files_.size());
      if (fresh) {
        std::error_code ec;
        if (!std::filesystem::exists(path_ / sp, ec))
          fail<io_error>("[safetensors] shard '", shard, "' listed in '", index.string(), "' (for tensor '", name,
                         "') does not exist. Hint: incomplete download?");
        files_.push_back(safetensors_file::open(path_ / sp));
      }
      if (!files_[s->second].contains(name))
        fail<format_error>("[safetensors] tensor '", name, "': listed in '", index.string(), "' for shard '", shard,
                           "', but that file has no such tensor in '", files_[s->second].path().string(), "'");
      add(name, s->second);
    }
  }

  std::filesystem::path path_;
  std::vector<safetensors_file> files_;
  std::map<std::string, std::size_t, std::less<>> where_;
  metadata_map index_metadata_;
};

namespace detail {
// Data order of the Python/Rust writer: larger alignment first (I64, F32, I32, BF16, F16, U8,
// BOOL), then by name, so every tensor starts aligned for its type.
inline int writer_rank(dtype d) {
  switch (d) {
    case dtype::i64: return 0;
    case dtype::f32: return 1;
    case dtype::i32: return 2;
    case dtype::bf16: return 3;
    case dtype::f16: return 4;
    case dtype::u8: return 5;
    case dtype::boolean: return 6;
  }
  return 7;
}
}  // namespace detail

// Writes tensors (any supported dtype) and string metadata to `path` atomically. The layout
// matches the Python library's save_file: data ordered by alignment then name, header entries
// in data order ("__metadata__" first, omitted when empty), padded with spaces to 8 bytes.
//   requires: unique non-empty names other than "__metadata__"; each data points at
//             shape.numel() x dtype_size contiguous little-endian elements.
//   throws:   format_error for a bad name or shape, io_error when writing fails.
inline void save_safetensors(const std::filesystem::path& path, std::vector<tensor_ref> tensors,
                             const metadata_map& metadata = {}) {
  auto bad = [&](const std::string& name, const auto&... parts) {
    fail<format_error>("[safetensors] tensor '", name, "': ", parts..., " while writing '", path.string(), "'");
  };
  std::sort(tensors.begin(), tensors.end(), [](const tensor_ref& a, const tensor_ref& b) {
    int ra = detail::writer_rank(a.type), rb = detail::writer_rank(b.type);
    return ra != rb ? ra < rb : a.name < b.name;
  });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  std::size_t offset = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const tensor_ref& t = tensors[i];
    if (t.name.empty() || t.name == "__metadata__") bad(t.name, "reserved or empty name, expected a tensor name");
    if (i > 0 && tensors[i - 1].name == t.name) bad(t.name, "name given twice, expected unique names");
    for (std::int64_t x : t.shape)
      if (x < 0) bad(t.name, "shape ", t.shape.str(), " has a negative extent, expected extents >= 0");
    std::size_t bytes = static_cast<std::size_t>(t.shape.numel()) * dtype_size(t.type);
    if (bytes && !t.data) bad(t.name, "data is null, expected ", bytes, " bytes");
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["dtype"] = std::string(dtype_name(t.type));
    e["shape"] = t.shape.to_vector();
    e["data_offsets"] = {offset, offset + bytes};
    header[t.name] = std::move(e);
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail<format_error>("[safetensors] header cannot be written (", e.what(), ") while writing '", path.string(),
                       "'. Hint: tensor names and metadata must be valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  atomic_write(path, [&](std::ostream& os) {
    std::uint64_t n = text.size();
    os.write(reinterpret_cast<const char*>(&n), 8);
    os.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const tensor_ref& t : tensors)
      os.write(static_cast<const char*>(t.data),
               static_cast<std::streamsize>(static_cast<std::size_t>(t.shape.numel()) * dtype_size(t.type)));
  });
}

// Convenience: tensors of one element type (non-contiguous ones are copied first).
template <class T>
void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, tensor<T, cpu>>>& tensors,
                      const metadata_map& metadata = {}) {
  std::vector<tensor_ref> refs;
  refs.reserve(tensors.size());
  for (const auto& [name, t] : tensors) refs.push_back(tensor_ref::of(name, t));
  save_safetensors(path, std::move(refs), metadata);
}

}  // namespace vlm::io
