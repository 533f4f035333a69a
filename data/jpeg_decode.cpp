#include "data/jpeg_decode.h"

#include <jpeglib.h>

#include <csetjmp>
#include <cstdio>
#include <fstream>
#include <vector>

namespace engram::data {

namespace {

// Tiny-ImageNet's files are a few KB; anything past this is not an image of the set.
constexpr size_t kMaxFileBytes = size_t{64} << 20;
constexpr int kMaxSide = 4096;

// libjpeg reports a fatal error through error_exit, which must not return:
// it jumps back to decode_bytes. Warnings (corrupt or truncated data, which
// libjpeg would paper over with gray) fail the decode too, as PIL fails on a
// truncated file.
struct JpegErrors {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char first_warning[JMSG_LENGTH_MAX];
};

void on_fatal_error(j_common_ptr info) { std::longjmp(reinterpret_cast<JpegErrors*>(info->err)->jump, 1); }

void on_message(j_common_ptr info, int level) {
  auto* errors = reinterpret_cast<JpegErrors*>(info->err);
  if (level < 0 && errors->manager.num_warnings++ == 0) info->err->format_message(info, errors->first_warning);
}

// Only C data lives between setjmp and longjmp, so no destructor is skipped.
// Fills `message` on failure (empty on success); `width` and `height` are
// set once the header is read. Decodes only a side x side image.
void decode_bytes(const std::vector<unsigned char>& bytes, int side, uint8_t* chw, char* message, long& width,
                  long& height) {
  jpeg_decompress_struct info;
  JpegErrors errors;
  info.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = on_fatal_error;
  errors.manager.emit_message = on_message;
  errors.first_warning[0] = '\0';
  message[0] = '\0';
  if (setjmp(errors.jump)) {
    errors.manager.format_message(reinterpret_cast<j_common_ptr>(&info), message);
    jpeg_destroy_decompress(&info);
    return;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  width = info.image_width;
  height = info.image_height;
  if (width == side && height == side) {
    info.out_color_space = JCS_RGB;
    jpeg_start_decompress(&info);
    JSAMPLE row[3 * kMaxSide];
    const int pixels = side * side;
    for (int y = 0; y < side && errors.manager.num_warnings == 0; ++y) {
      JSAMPROW rows[1] = {row};
      jpeg_read_scanlines(&info, rows, 1);
      for (int x = 0; x < side; ++x)
        for (int c = 0; c < 3; ++c) chw[c * pixels + y * side + x] = row[x * 3 + c];
    }
    if (errors.manager.num_warnings == 0) jpeg_finish_decompress(&info);
  }
  jpeg_destroy_decompress(&info);
  if (errors.manager.num_warnings > 0) std::snprintf(message, JMSG_LENGTH_MAX, "%s", errors.first_warning);
}

}  // namespace

std::string decode_jpeg(const std::string& path, int side, uint8_t* chw) {
  if (side <= 0 || side > kMaxSide) return "decode_jpeg: expected a side in [1, 4096], got " + std::to_string(side);
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file.good()) return "cannot open " + path + " (missing or unreadable)";
  const std::streamoff size = file.tellg();
  if (size <= 0 || static_cast<size_t>(size) > kMaxFileBytes)
    return path + ": expected a JPEG file of 1 byte to 64 MiB, got " + std::to_string(size) + " bytes";
  std::vector<unsigned char> bytes(static_cast<size_t>(size));
  file.seekg(0);
  if (!file.read(reinterpret_cast<char*>(bytes.data()), size)) return "cannot read " + path;
  if (bytes.size() < 3 || bytes[0] != 0xFF || bytes[1] != 0xD8 || bytes[2] != 0xFF)
    return "cannot decode " + path + " (not a JPEG: it does not start with the SOI marker FF D8 FF)";
  char message[JMSG_LENGTH_MAX];
  long width = 0, height = 0;
  decode_bytes(bytes, side, chw, message, width, height);
  if (message[0] != '\0') return "cannot decode " + path + " (corrupt JPEG: " + message + ")";
  if (width != side || height != side)
    return path + ": expected a " + std::to_string(side) + "x" + std::to_string(side) + " image, got " +
           std::to_string(width) + "x" + std::to_string(height);
  return "";
}

}  // namespace engram::data
