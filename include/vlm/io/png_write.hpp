// encode_png / write_png: an io::image (8-bit RGB) as a PNG file, through stb_image_write
// (Debian libstb holds the implementation and exports stbi_write_png_to_func; no TU of ours
// defines STB_IMAGE_WRITE_IMPLEMENTATION). The file is written atomically (atomic_file), so a
// reader never sees half a PNG. load_image(write_png(p, img)) gives img back byte for byte.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include <stb_image_write.h>  // defines: stbi_write_png_to_func

#include "vlm/core/error.hpp"
#include "vlm/io/atomic_file.hpp"
#include "vlm/io/image.hpp"

namespace vlm::io {

// PNG bytes of `img` (colour type 2, 8 bits, stb's filter choice and zlib level).
//   requires: img.rgb.size() == width * height * 3.
//   throws:   format_error for an empty or inconsistent image, or when stb fails.
inline std::vector<std::uint8_t> encode_png(const image& img) {
  VLM_CHECK_AS(format_error, img.width > 0 && img.height > 0, "[png_write] image is empty (", img.width, "x",
               img.height, ")");
  const std::size_t n = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height) * 3;
  VLM_CHECK_AS(format_error, img.rgb.size() == n, "[png_write] image ", img.width, "x", img.height, " needs ", n,
               " RGB bytes, got ", img.rgb.size());
  VLM_CHECK_AS(format_error, n <= 0x7fffffffu, "[png_write] image ", img.width, "x", img.height, " is too large");
  std::vector<std::uint8_t> out;
  out.reserve(n / 4 + 64);
  auto append = [](void* ctx, void* data, int size) {
    auto* v = static_cast<std::vector<std::uint8_t>*>(ctx);
    const auto* p = static_cast<const std::uint8_t*>(data);
    v->insert(v->end(), p, p + size);
  };
  const int ok = stbi_write_png_to_func(append, &out, img.width, img.height, 3, img.rgb.data(), img.width * 3);
  if (!ok) fail<format_error>("[png_write] stb_image_write failed to encode a ", img.width, "x", img.height, " image");
  return out;
}

// Writes `img` as a PNG file at `path` (atomically: '<path>.tmp.*' then rename).
//   requires: path's folder exists.
//   throws:   format_error as encode_png; io_error naming `path` when the write fails.
inline void write_png(const std::filesystem::path& path, const image& img) {
  const std::vector<std::uint8_t> bytes = encode_png(img);
  atomic_write(path, [&](std::ostream& os) {
    os.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  });
}

}  // namespace vlm::io
