# Header-only dependencies come from Debian packages (/usr/include) or, on a
# machine without apt, from the folder scripts/stage-deps.sh fills (.deps/).
set(ENGRAM_DEPS_DIR "${PROJECT_SOURCE_DIR}/.deps" CACHE PATH "Staged dependencies (scripts/stage-deps.sh)")

function(engram_find_header var header)
  find_path(${var} ${header}
    HINTS ${ENGRAM_DEPS_DIR}/include ${ENGRAM_DEPS_DIR}/include/eigen3
    PATHS /usr/include /usr/include/eigen3 /usr/local/include /usr/local/include/eigen3)
  if(NOT ${var})
    message(FATAL_ERROR "engram: header <${header}> not found. Run scripts/setup.sh "
                        "(Debian) or scripts/stage-deps.sh, or set ENGRAM_DEPS_DIR.")
  endif()
endfunction()

engram_find_header(EIGEN3_INCLUDE_DIR Eigen/Core)
engram_find_header(CATCH2_INCLUDE_DIR catch2/catch.hpp)
engram_find_header(CLI11_INCLUDE_DIR CLI/CLI.hpp)
engram_find_header(JSON_INCLUDE_DIR nlohmann/json.hpp)
engram_find_header(ZLIB_INCLUDE_DIR zlib.h)
# The runtime library is on every Linux system; its unversioned dev link may not be.
find_library(ZLIB_LIBRARY NAMES z libz.so.1 REQUIRED)
# libjpeg-turbo (Debian's libjpeg62-turbo-dev), linked statically so that a
# machine with only the staged .deps/ needs no libjpeg of its own.
engram_find_header(JPEG_INCLUDE_DIR jpeglib.h)
find_path(JPEG_CONFIG_DIR jconfig.h HINTS ${ENGRAM_DEPS_DIR}/include PATHS /usr/include/x86_64-linux-gnu /usr/include)
find_library(JPEG_LIBRARY NAMES libjpeg.a HINTS ${ENGRAM_DEPS_DIR}/lib PATHS /usr/lib/x86_64-linux-gnu REQUIRED)

add_library(engram_deps INTERFACE)
target_include_directories(engram_deps SYSTEM INTERFACE
  ${EIGEN3_INCLUDE_DIR} ${CATCH2_INCLUDE_DIR} ${CLI11_INCLUDE_DIR} ${JSON_INCLUDE_DIR}
  ${ZLIB_INCLUDE_DIR} ${JPEG_INCLUDE_DIR} ${JPEG_CONFIG_DIR})
target_link_libraries(engram_deps INTERFACE ${ZLIB_LIBRARY} ${JPEG_LIBRARY})

find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Threads REQUIRED)
