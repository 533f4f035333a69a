#include "data/image_decode.h"

#include <csetjmp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include <jpeglib.h>

// The one translation unit that compiles stb_image.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#include <stb/stb_image.h>

namespace engram::data {

namespace {

// Tiny-ImageNet's files are a few KB; anything past this is not an image of the set.
constexpr size_t kMaxFileBytes = size_t{64} << 20;

bool is_jpeg(const std::vector<unsigned char>& bytes) {
  return bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

std::string size_error(const std::string& path, int side, long width, long height) {
  return path + ": expected a " + std::to_string(side) + "x" + std::to_string(side) + " image, got " +
         std::to_string(width) + "x" + std::to_string(height);
}

// libjpeg reports a fatal error through error_exit, which must not return:
// it jumps back to decode_jpeg. Warnings (corrupt or truncated data, which
// libjpeg would paper over with gray) are kept and fail the decode too, as
// PIL fails on a truncated file.
struct JpegErrors {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char first_warning[JMSG_LENGTH_MAX];
};

void jpeg_fatal(j_common_ptr info) { std::longjmp(reinterpret_cast<JpegErrors*>(info->err)->jump, 1); }

void jpeg_message(j_common_ptr info, int level) {
  auto* errors = reinterpret_cast<JpegErrors*>(info->err);
  if (level < 0 && errors->manager.num_warnings++ == 0) info->err->format_message(info, errors->first_warning);
}

// Plain C data only between setjmp and longjmp: no destructor is skipped.
// Returns a libjpeg message on failure, empty on success; `width`/`height`
// are set once the header is read.
std::string decode_jpeg(const std::vector<unsigned char>& bytes, int side, int channels, uint8_t* chw, long& width,
                        long& height) {
  jpeg_decompress_struct info;
  JpegErrors errors;
  info.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = jpeg_fatal;
  errors.manager.emit_message = jpeg_message;
  errors.first_warning[0] = '\0';
  char message[JMSG_LENGTH_MAX] = "";
  if (setjmp(errors.jump)) {
    errors.manager.format_message(reinterpret_cast<j_common_ptr>(&info), message);
    jpeg_destroy_decompress(&info);
    return message;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  width = info.image_width;
  height = info.image_height;
  if (width == side && height == side) {
    info.out_color_space = JCS_RGB;
    jpeg_start_decompress(&info);
    JSAMPLE row[3 * 4096];
    const int pixels = side * side;
    for (int y = 0; y < side && errors.manager.num_warnings == 0; ++y) {
      JSAMPROW rows[1] = {row};
      jpeg_read_scanlines(&info, rows, 1);
      for (int x = 0; x < side; ++x)
        for (int c = 0; c < channels; ++c) chw[c * pixels + y * side + x] = row[x * 3 + c];
    }
    if (errors.manager.num_warnings == 0) jpeg_finish_decompress(&info);
  }
  jpeg_destroy_decompress(&info);
  if (errors.manager.num_warnings > 0) return errors.first_warning;
  return "";
}

std::string decode_png(const std::vector<unsigned char>& bytes, const std::string& path, int side, int channels,
                       uint8_t* chw) {
  const int size = static_cast<int>(bytes.size());
  int width = 0, height = 0, in_file = 0;
  if (!stbi_info_from_memory(bytes.data(), size, &width, &height, &in_file))
    return "cannot decode " + path + " (" + stbi_failure_reason() + ")";
  if (width != side || height != side) return size_error(path, side, width, height);
  // Asking for `channels` converts gray (and gray + alpha) to RGB by repeating the value.
  stbi_uc* hwc = stbi_load_from_memory(bytes.data(), size, &width, &height, &in_file, channels);
  if (!hwc) return "cannot decode " + path + " (" + stbi_failure_reason() + ")";
  const int pixels = side * side;
  for (int c = 0; c < channels; ++c)
    for (int i = 0; i < pixels; ++i) chw[c * pixels + i] = hwc[i * channels + c];
  stbi_image_free(hwc);
  return "";
}

}  // namespace

std::string decode_image(const std::string& path, int side, int channels, uint8_t* chw) {
  if (channels != 3 || side <= 0 || side > 4096) return "decode_image: expected 3 channels and a side in [1, 4096]";
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file.good()) return "cannot open " + path + " (missing or unreadable)";
  const std::streamoff size = file.tellg();
  if (size <= 0 || static_cast<size_t>(size) > kMaxFileBytes)
    return path + ": expected an image file of 1 byte to 64 MiB, got " + std::to_string(size) + " bytes";
  std::vector<unsigned char> bytes(static_cast<size_t>(size));
  file.seekg(0);
  if (!file.read(reinterpret_cast<char*>(bytes.data()), size)) return "cannot read " + path;
  if (!is_jpeg(bytes)) return decode_png(bytes, path, side, channels, chw);
  long width = 0, height = 0;
  std::string problem = decode_jpeg(bytes, side, channels, chw, width, height);
  if (!problem.empty()) return "cannot decode " + path + " (corrupt JPEG: " + problem + ")";
  if (width != side || height != side) return size_error(path, side, width, height);
  return "";
}

}  // namespace engram::data
