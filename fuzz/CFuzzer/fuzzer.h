// libFuzzer's driver, as the Swift toolchain ships it (linked by -sanitize=fuzzer): called from
// the fuzz executable's own main, since SwiftPM names an executable's entry point itself.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
