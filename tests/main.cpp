// The one TU that defines Catch2's main; linked into every test binary.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
