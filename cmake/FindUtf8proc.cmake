# Finds utf8proc, used by the tokenizer for Unicode NFC normalisation (Debian: libutf8proc-dev).
# NFC composition tables are large and tied to a Unicode version; utf8proc is the small,
# well-kept library that does exactly this, so we do not carry our own tables.
find_path(Utf8proc_INCLUDE_DIR utf8proc.h)
find_library(Utf8proc_LIBRARY utf8proc)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Utf8proc REQUIRED_VARS Utf8proc_INCLUDE_DIR Utf8proc_LIBRARY)
if(Utf8proc_FOUND AND NOT TARGET vlm::utf8proc)
  add_library(vlm::utf8proc UNKNOWN IMPORTED)
  set_target_properties(vlm::utf8proc PROPERTIES IMPORTED_LOCATION ${Utf8proc_LIBRARY}
                        INTERFACE_INCLUDE_DIRECTORIES ${Utf8proc_INCLUDE_DIR})
endif()
