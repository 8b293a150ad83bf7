// Just enough of CUDA C++ to compile kernels/encoder.cu as ordinary host C++, so the tests can
// check the kernels' arithmetic on machines without a GPU. TEST CODE ONLY.
//
// Execution model (see launch.cpp): one OS thread per CUDA thread of a block, all of a block's
// threads running concurrently and meeting at a real barrier in __syncthreads(); blocks run one
// after another. Hence __shared__ can simply be `static`: one block is alive at a time, and its
// threads share the storage exactly as on a GPU.
#pragma once

#include <cmath>
#include <cstddef>
#include <pthread.h>

#define NEUNEU_HOST_SHIM 1

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
};

// Per CUDA thread, so per OS thread.
extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
extern thread_local pthread_barrier_t *neuneu_shim_block_barrier;

inline void __syncthreads() { pthread_barrier_wait(neuneu_shim_block_barrier); }

using std::erff;
using std::fmaf;
using std::sqrt;
