#pragma once
// Tiny-ImageNet-200 in the folder layout of the official zip
// (tiny-imagenet-200/):
//   wnids.txt                          one WordNet id per line; label = line order
//   train/<wnid>/images/*.JPEG         500 images per class
//   val/val_annotations.txt            <file> \t <wnid> \t <bbox x0 y0 x1 y1>
//   val/images/<file>
// Labels follow the order of wnids.txt (torchvision's ImageFolder would sort
// the folder names instead). Train images are taken in file-name order per
// class, val images in annotation order. The split "test" has no labels and
// is not read.
//
// The JPEGs are decoded once (data/jpeg_decode.h: libjpeg-turbo, as PIL)
// into a uint8 cache next to the data (train.engram-cache, val.engram-cache;
// see data/image_cache.h), reused while valid and rebuilt when corrupt or
// stale. A read-only data folder
// still loads, without a cache. Every image must be 64x64; grayscale images
// become RGB by repeating the gray value, as PIL's convert("RGB") does.
#include <string>
#include <vector>

#include "data/idx.h"

namespace engram::data {

// `dir` is the tiny-imagenet-200 folder or its parent. Images u8 [N, 3, 64, 64],
// 200 classes (as many as wnids.txt lists). train = false reads the val split.
// Throws IOError naming the file for a missing file or folder, an unknown
// wnid, an undecodable image or one that is not 64x64.
ImageDataset load_tiny_imagenet(const std::string& dir, bool train);

// The cache file load_tiny_imagenet uses for the split.
std::string tiny_imagenet_cache_path(const std::string& dir, bool train);

}  // namespace engram::data
