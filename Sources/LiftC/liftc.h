/* liftc.h — the C ABI of swift-deeplift (product `LiftC`, libLiftC.so).
 *
 * Every call that can fail returns a status: 0 success, 1 the library refused the model,
 * input or options (bad file, unsupported layer, wrong shape, task out of range…), 2 the call
 * was malformed (null pointer, bad count or shape, unknown option). The message — one line
 * naming the file, layer or shape, as the `deeplift` command prints it after `error:` — is
 * written NUL-terminated into `err` (capacity `err_cap` bytes; truncated if longer). Nothing
 * traps across this boundary: every pointer, count and extent is checked before use.
 *
 * Arrays are float32, C (row-major) order, passed as a data pointer plus a rank and extents
 * (every extent >= 1). `n` arrays are given as `n` data pointers, `n` ranks and the
 * concatenation of their extents. Inputs are copied once into the library; scores are
 * written straight into the caller's output buffers.
 *
 * Handles are thread-safe to use from several threads at once (a model keeps the explainer of
 * the last options it was used with); free each exactly once.
 */
#ifndef LIFTC_H
#define LIFTC_H
#include <stdint.h>

typedef struct liftc_model liftc_model;
typedef struct liftc_options liftc_options;

const char *liftc_version(void);

/* A model file (.h5, .keras, .onnx; recognised from its content). */
int32_t liftc_model_open(const char *path, liftc_model **out, char *err, int64_t err_cap);
/* A model from bytes: ONNX is read in memory, Keras through a temporary file. */
int32_t liftc_model_open_bytes(const uint8_t *bytes, int64_t length, const char *name,
                               liftc_model **out, char *err, int64_t err_cap);
void liftc_model_free(liftc_model *model);
int64_t liftc_model_input_count(const liftc_model *model);
/* key: "format", "channel-axis", "default-target", "layers", "inputs" (newline-separated). */
int32_t liftc_model_info(const liftc_model *model, const char *key, char *buf, int64_t buf_cap,
                         char *err, int64_t err_cap);

/* Options by the command line's names (`deeplift explain --NAME VALUE`): method, target,
 * task ("K", "K,K,…", "all"), contrast, output (contributions|multipliers|hypothetical),
 * maxpool (gradient|deepshap), batch-size, steps, ig-method, channel-axis, threads,
 * normalize-first-conv (0|1), softmax-normalize (0|1), shuffles, seed. */
liftc_options *liftc_options_new(void);
void liftc_options_free(liftc_options *options);
int32_t liftc_options_set(liftc_options *options, const char *name, const char *value,
                          char *err, int64_t err_cap);

/* reference_kind: 0 zeros (refs ignored), 1 arrays (one per input; read by rank as the
 * command line's --reference: one example's shape shared, the input's shape per example,
 * [N, M, ...] M per example, averaged), 2 background ([M, ...] per input, averaged over all
 * rows), 3 dinucleotide shuffles (options shuffles + seed; refs ignored).
 * outputs: one per input, shaped like the scores (the input's shape; [N, T, ...] for T > 1
 * tasks). deltas: NULL, or N floats receiving |sum of scores - delta target| per example
 * (the worst over tasks; DeepLIFT methods). */
int32_t liftc_explain(liftc_model *model, liftc_options *options,
                      int64_t n_inputs, const float *const *inputs, const int32_t *input_ranks,
                      const int64_t *input_dims,
                      int32_t reference_kind, int64_t n_refs, const float *const *refs,
                      const int32_t *ref_ranks, const int64_t *ref_dims,
                      int64_t n_outputs, float *const *outputs, const int32_t *out_ranks,
                      const int64_t *out_dims,
                      float *deltas, int64_t n_deltas,
                      char *err, int64_t err_cap);

#endif
