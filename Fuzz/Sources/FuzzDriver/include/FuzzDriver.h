#ifndef DEEPLIFT_FUZZ_DRIVER_H
#define DEEPLIFT_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver (`LLVMFuzzerRunDriver`, libFuzzer ≥ LLVM 12) on `callback` with the
/// process arguments. SwiftPM links an executable target with `main` aliased to
/// `<Target>_main`, which shadows libFuzzer's own `main`, so each harness defines
/// `<Target>_main` and calls this.
int deeplift_fuzz_run(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size));
#endif
