#ifndef LIFT_CBIGWIG_SHIM_H
#define LIFT_CBIGWIG_SHIM_H
// libBigWig (Debian: libbigwig-dev): writes bigWig tracks. Local files only: NOCURL keeps the
// curl headers out (the library's curl handle shares a union with the FILE pointer, so the
// layout is the same either way).
#define NOCURL
#include <bigWig.h>

/// Sets the chromosome list of a bigWig opened for writing (`fp->cl`, after bwCreateHdr).
static inline int lift_bw_set_chroms(bigWigFile_t *fp, const char *const *chroms, const uint32_t *lengths, int64_t n) {
    fp->cl = bwCreateChromList(chroms, lengths, n);
    return fp->cl ? 0 : -1;
}
#endif
