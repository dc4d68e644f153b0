#ifndef LIFT_CINFLATE_SHIM_H
#define LIFT_CINFLATE_SHIM_H
// zlib (Debian: zlib1g-dev), for LiftIO's bounded zip reader: raw inflate and CRC-32.
#include <zlib.h>
#endif
