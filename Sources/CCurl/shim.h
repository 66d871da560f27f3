#ifndef MODELOPS_CCURL_SHIM_H
#define MODELOPS_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic: Swift needs typed wrappers. */
static inline CURLcode modelops_curl_set_long(CURL *c, CURLoption o, long v) {
  return curl_easy_setopt(c, o, v);
}
static inline CURLcode modelops_curl_set_string(CURL *c, CURLoption o, const char *v) {
  return curl_easy_setopt(c, o, v);
}
static inline CURLcode modelops_curl_set_pointer(CURL *c, CURLoption o, void *v) {
  return curl_easy_setopt(c, o, v);
}
static inline CURLcode modelops_curl_get_long(CURL *c, CURLINFO i, long *v) {
  return curl_easy_getinfo(c, i, v);
}
/* Callbacks are passed through curl_easy_setopt's varargs too. */
typedef size_t (*modelops_curl_write_fn)(char *, size_t, size_t, void *);
static inline CURLcode modelops_curl_set_write(CURL *c, modelops_curl_write_fn fn, void *userdata) {
  CURLcode r = curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fn);
  if (r != CURLE_OK) return r;
  return curl_easy_setopt(c, CURLOPT_WRITEDATA, userdata);
}

/* CURLVERSION_NOW is a macro. */
static inline curl_version_info_data *modelops_curl_version(void) {
  return curl_version_info(CURLVERSION_NOW);
}
#endif
