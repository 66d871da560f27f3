// prctl(2) is variadic in C, so Swift cannot call it: one fixed-argument wrapper per use.
#include <sys/prctl.h>

/// Makes the process non-dumpable: processes of the same user (training steps, replicas) can no
/// longer read its /proc/<pid>/environ or mem, nor ptrace it. 0 on success, -1 with errno.
static inline int modelops_set_dumpable(int dumpable) {
  return prctl(PR_SET_DUMPABLE, (unsigned long)dumpable, 0UL, 0UL, 0UL);
}

static inline int modelops_get_dumpable(void) {
  return prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
}

#include <malloc.h>

/// Gives memory freed by the allocator back to the system (glibc keeps freed heap for reuse):
/// a router that carried a burst of large bodies shrinks again once it is over.
static inline int modelops_release_free_memory(void) {
  return malloc_trim(0);
}
