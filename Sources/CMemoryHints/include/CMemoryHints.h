#ifndef C_MEMORY_HINTS_H
#define C_MEMORY_HINTS_H

/// Asks the CPU to start loading the cache line holding `address` for a read soon. A hint only: never
/// faults, never changes results. Graph walks use it to overlap the memory latency of nodes further
/// down their queue with the work on the current one.
static inline void dr_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
