#pragma once
// Decoding one image file of an image-folder dataset (Tiny-ImageNet) into CHW
// bytes. JPEGs are decoded by libjpeg-turbo, the library PIL (and so
// torchvision) decodes them with, using the same defaults (integer IDCT,
// fancy upsampling), so the pixels are the ones a PyTorch pipeline sees.
// PNGs are decoded by stb_image. The decoder goes by the file's content, not
// its name, as PIL does.
#include <cstdint>
#include <string>

namespace engram::data {

// Decodes `path` into `chw` (channels x side x side bytes). `channels` is 3:
// grayscale images become RGB by repeating the value, as PIL's convert("RGB").
// Returns what is wrong (naming the path) when the file cannot be read, is
// neither JPEG nor PNG, is corrupt or truncated, or is not side x side; an
// empty string on success. Nothing is allocated for a size the header claims
// before that size is checked.
std::string decode_image(const std::string& path, int side, int channels, uint8_t* chw);

}  // namespace engram::data
