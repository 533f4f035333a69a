#pragma once
// Decoding one JPEG file of an image-folder dataset (Tiny-ImageNet) into CHW
// bytes, by libjpeg-turbo: the library PIL (and so torchvision) decodes
// JPEGs with, used with PIL's defaults (integer IDCT, fancy upsampling), so
// the pixels are the ones a PyTorch pipeline sees.
#include <cstdint>
#include <string>

namespace engram::data {

// Decodes `path` into `chw` (3 x side x side bytes, RGB); grayscale images
// become RGB by repeating the value, as PIL's convert("RGB"). Returns what is
// wrong, naming the path, when the file cannot be read, is not a JPEG, is
// corrupt or truncated, or is not side x side (checked from the header,
// before anything is decoded); an empty string on success.
std::string decode_jpeg(const std::string& path, int side, uint8_t* chw);

}  // namespace engram::data
