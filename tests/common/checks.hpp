// Assertion helpers shared by the test binaries.
#pragma once
#include <catch2/catch.hpp>

// Catch2 2.13 has no CHECK_THROWS_WITH_AS (v3 does): check the type, then the message.
// Evaluates `expr` twice.
#define VLM_CHECK_THROWS_WITH_AS(expr, matcher, E) \
  do {                                             \
    CHECK_THROWS_AS(expr, E);                      \
    CHECK_THROWS_WITH(expr, matcher);              \
  } while (0)
