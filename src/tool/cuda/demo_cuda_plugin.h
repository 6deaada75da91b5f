/* The demo's CUDA consumer, as a plugin: ntbridge_demo_cuda.so, built where the CUDA toolkit is found and
 * installed with libntbridge_cuda (package ntbridge-cuda). The tool loads it with dlopen only for
 * `ntbridge demo --consumer cuda`, so that the ntbridge program itself (package ntbridge) needs no CUDA
 * runtime. A C interface, versioned: no exception and no C++ type crosses it.
 *
 * The checker imports the demo's ring of shared memory and its two timeline semaphores, `ready` and `free`,
 * into CUDA through libntbridge_cuda (NT handles: the tool turns KMT values and names into NT handles
 * first). For frame f in slot f % ring, submit() queues on one stream, with no host wait: a wait until
 * `ready` reaches f + 1, the frame's WordChecksum (demo_frames.hpp) in a kernel, a signal of `free` = f + 1,
 * and a copy of the checksum to pinned host memory followed by an event; collect() returns the checksum once
 * that event has completed. */
#ifndef NTBRIDGE_DEMO_CUDA_PLUGIN_H_
#define NTBRIDGE_DEMO_CUDA_PLUGIN_H_

#include <ntbridge/transfer.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NTBRIDGE_DEMO_CUDA_ABI 1u
#define NTBRIDGE_DEMO_CUDA_ENTRY "ntbridge_demo_cuda_plugin" /* the one symbol the plugin exports */

typedef struct ntbridge_demo_cuda_ring {
  ntbridge_memory_info memory; /* the ring's allocation; handle_type OPAQUE_WIN32 */
  int memory_handle;           /* NT handles (descriptors), the caller's: the checker keeps duplicates */
  int ready_handle;
  int free_handle;
  uint32_t ring;      /* slots, frame f in slot f % ring */
  uint64_t slot_size; /* bytes per slot, a multiple of 4 */
  uint32_t frames;    /* frames of the run: `ready` never goes past this */
} ntbridge_demo_cuda_ring;

typedef struct ntbridge_demo_cuda_checker ntbridge_demo_cuda_checker;

/* Every function that can fail returns a negative value (NULL for create) and writes what failed, NUL-
 * terminated, into `error` (`error_size` bytes). */
typedef struct ntbridge_demo_cuda_api {
  uint32_t abi; /* NTBRIDGE_DEMO_CUDA_ABI */
  ntbridge_demo_cuda_checker* (*create)(const ntbridge_demo_cuda_ring* ring, char* error, size_t error_size);
  /* With frames still in flight (an error path), it first releases the stream's waits on `ready` (a signal
   * past the last frame) and waits up to 10 s for the stream; a stream still busy then is left behind. */
  void (*destroy)(ntbridge_demo_cuda_checker* checker);
  const char* (*device_name)(const ntbridge_demo_cuda_checker* checker);
  /* Frames in order; submit(f) only after collect(f - ring). 0, or negative. */
  int (*submit)(ntbridge_demo_cuda_checker* checker, uint32_t frame, char* error, size_t error_size);
  /* 1 and *checksum once the check of `frame` is done; 0 when it is not after `wait_us` microseconds. */
  int (*collect)(ntbridge_demo_cuda_checker* checker, uint32_t frame, uint32_t wait_us, uint64_t* checksum,
                 char* error, size_t error_size);
} ntbridge_demo_cuda_api;

typedef const ntbridge_demo_cuda_api* (*ntbridge_demo_cuda_entry)(void);

#ifdef __cplusplus
}
#endif

#endif /* NTBRIDGE_DEMO_CUDA_PLUGIN_H_ */
