#ifndef LIFT_CBLAS_SHIM_H
#define LIFT_CBLAS_SHIM_H
// Resolves to Debian's openblas-pthread cblas.h through `pkg-config --cflags openblas`.
#include <cblas.h>
#endif
