// Internal to backend/cpu: the channel-blocked activation layout (backend::Tactic::InputBlock)
// that the convolution and elementwise tactics share.
#pragma once

#include <string>

namespace refit::cpu {

// The block this machine's blocked kernels use: 16 with AVX-512 (oneDNN's nChw16c), 8 with AVX2
// only, 0 without.
int ActivationBlock();
// The tactic name suffix of an (input, output) block pair: "" for (0, 0), else "/in16c",
// "/out16c" or "/in16c_out16c".
std::string BlockedIoSuffix(int in_block, int out_block);

}  // namespace refit::cpu
