// Host launcher for kernels/encoder.cu compiled as C++ (see cuda_host_shim.h). TEST CODE ONLY.
// Exposes one C function with cuLaunchKernel's argument convention (args[i] points at the i-th
// kernel argument), so the Rust test drives the very launch plan the CUDA backend uses.
#include "cuda_host_shim.h"

#include "../encoder.cu"

#include <cstring>
#include <exception>
#include <thread>
#include <utility>
#include <vector>

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;
thread_local pthread_barrier_t *neuneu_shim_block_barrier;

namespace {

// Calls f(*(A0 *)args[0], *(A1 *)args[1], ...), as the driver does for a real launch.
template <typename... A, std::size_t... I>
void invoke_unpacked(void (*f)(A...), void **args, std::index_sequence<I...>) {
    f(*static_cast<typename std::remove_reference<A>::type *>(args[I])...);
}

template <typename... A>
void invoke(void (*f)(A...), void **args) {
    invoke_unpacked(f, args, std::index_sequence_for<A...>{});
}

struct Kernel {
    const char *name;
    void (*call)(void **);
};

#define NEUNEU_KERNEL(k) {#k, [](void **args) { invoke(k, args); }}
const Kernel kKernels[] = {
    NEUNEU_KERNEL(conv1d_bias_moments),
    NEUNEU_KERNEL(groupnorm_stats),
    NEUNEU_KERNEL(groupnorm_gelu),
    NEUNEU_KERNEL(project),
};

}  // namespace

// Runs kernel `name` over grid[0] x grid[1] x grid[2] blocks of `block` threads.
// Returns 0 on success, -1 for an unknown kernel, -2 for a bad block size.
extern "C" int neuneu_shim_launch(const char *name, const unsigned *grid, unsigned block, void **args) {
    const Kernel *kernel = nullptr;
    for (const Kernel &k : kKernels) {
        if (std::strcmp(k.name, name) == 0) {
            kernel = &k;
        }
    }
    if (kernel == nullptr) {
        return -1;
    }
    if (block == 0 || block > ENC_MAX_THREADS) {
        return -2;
    }

    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, nullptr, block);
    try {
        // One OS thread per CUDA thread for the whole launch; they walk the blocks in lockstep,
        // meeting at the barrier after each block so that no thread starts the next block (and
        // reuses the static shared arrays) while another still reads them.
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned tx = 0; tx < block; ++tx) {
            threads.emplace_back([&, tx] {
                threadIdx = {tx, 0, 0};
                blockDim = {block, 1, 1};
                gridDim = {grid[0], grid[1], grid[2]};
                neuneu_shim_block_barrier = &barrier;
                for (unsigned z = 0; z < grid[2]; ++z) {
                    for (unsigned y = 0; y < grid[1]; ++y) {
                        for (unsigned x = 0; x < grid[0]; ++x) {
                            blockIdx = {x, y, z};
                            kernel->call(args);
                            pthread_barrier_wait(&barrier);
                        }
                    }
                }
            });
        }
        for (std::thread &t : threads) {
            t.join();
        }
    } catch (const std::exception &) {
        // Could not start a thread: those already started would wait forever at the barrier,
        // so abort the test process loudly rather than hang.
        std::terminate();
    }
    pthread_barrier_destroy(&barrier);
    return 0;
}
