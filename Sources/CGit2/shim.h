#ifndef MODELOPS_CGIT2_SHIM_H
#define MODELOPS_CGIT2_SHIM_H
#include <git2.h>

/* Option-struct initialisers are macros, which Swift cannot import. */
static inline git_clone_options modelops_git_clone_options(void) {
  git_clone_options o = GIT_CLONE_OPTIONS_INIT;
  return o;
}
static inline git_fetch_options modelops_git_fetch_options(void) {
  git_fetch_options o = GIT_FETCH_OPTIONS_INIT;
  return o;
}
static inline git_checkout_options modelops_git_checkout_options(void) {
  git_checkout_options o = GIT_CHECKOUT_OPTIONS_INIT;
  return o;
}
static inline git_push_options modelops_git_push_options(void) {
  git_push_options o = GIT_PUSH_OPTIONS_INIT;
  return o;
}
#endif
