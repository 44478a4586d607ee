// The autograd layer: parameters, the tape, and the recorded ops.
#pragma once
#include "vlm/autograd/ops.hpp"
#include "vlm/autograd/parameter.hpp"
#include "vlm/autograd/tape.hpp"
