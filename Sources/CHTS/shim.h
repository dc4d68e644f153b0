#ifndef LIFT_CHTS_SHIM_H
#define LIFT_CHTS_SHIM_H
// htslib (Debian: libhts-dev): faidx random access to plain or bgzip-compressed FASTA.
#include <htslib/faidx.h>
#include <htslib/hts_log.h>
#include <stdlib.h>

// Silences htslib's own stderr messages: the Swift side reports one error line itself.
static inline void lift_hts_silence(void) { hts_set_log_level(HTS_LOG_OFF); }
#endif
