# Finds Debian's libstb-dev: headers in <prefix>/include/stb and the compiled libstb
# (which holds the stb_image implementation, so no TU of ours defines STB_IMAGE_IMPLEMENTATION).
find_path(Stb_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb)
find_library(Stb_LIBRARY stb)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Stb REQUIRED_VARS Stb_INCLUDE_DIR Stb_LIBRARY)
if(Stb_FOUND AND NOT TARGET vlm::stb)
  add_library(vlm::stb UNKNOWN IMPORTED)
  set_target_properties(vlm::stb PROPERTIES IMPORTED_LOCATION ${Stb_LIBRARY}
                        INTERFACE_INCLUDE_DIRECTORIES ${Stb_INCLUDE_DIR})
endif()
