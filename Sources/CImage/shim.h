#ifndef LIFT_CIMAGE_SHIM_H
#define LIFT_CIMAGE_SHIM_H
// PNG and JPEG decoding through libpng 1.6 and libjpeg-turbo (Debian: libpng-dev,
// libjpeg62-turbo-dev). Both libraries report errors by longjmp, which Swift cannot catch:
// the decoders below keep the setjmp on the C side and return an error message instead.
// Each decodes a whole file held in memory to 8-bit samples in the file's own channels
// (PNG: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; JPEG: 1 grey or 3 RGB), after checking the
// header's width × height against `max_pixels` BEFORE any pixel buffer is allocated.
#include <png.h>
#include <jpeglib.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int width;
  int height;
  int channels;
  /// PNG: bit depth of the file (1, 2, 4, 8, 16); JPEG: 8.
  int bit_depth;
  /// One line: why decoding failed (empty on success).
  char message[200];
} lift_image_info;

// MARK: - PNG

typedef struct {
  const unsigned char *data;
  size_t size;
  size_t offset;
  jmp_buf jump;
  char message[200];
} lift_png_state;

static inline void lift_png_error(png_structp png, png_const_charp text) {
  lift_png_state *s = (lift_png_state *)png_get_error_ptr(png);
  snprintf(s->message, sizeof s->message, "%s", text);
  longjmp(s->jump, 1);
}

static inline void lift_png_warning(png_structp png, png_const_charp text) { (void)png; (void)text; }

static inline void lift_png_read(png_structp png, png_bytep out, png_size_t length) {
  lift_png_state *s = (lift_png_state *)png_get_io_ptr(png);
  if (length > s->size - s->offset) png_error(png, "the file ends early (truncated)");
  memcpy(out, s->data + s->offset, length);
  s->offset += length;
}

/// Decodes a PNG: palette → RGB (its transparency → alpha), grey of 1, 2 or 4 bits → 8 bits,
/// 16-bit samples → their high byte. Returns a malloc'ed buffer of height × width × channels
/// bytes (free with `free`), or NULL with `info->message` set.
static inline unsigned char *lift_png_decode(
    const unsigned char *data, size_t size, size_t max_pixels, lift_image_info *info) {
  memset(info, 0, sizeof *info);
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
    snprintf(info->message, sizeof info->message, "not a PNG file (bad signature)");
    return NULL;
  }
  lift_png_state *state = (lift_png_state *)calloc(1, sizeof(lift_png_state));
  if (!state) { snprintf(info->message, sizeof info->message, "out of memory"); return NULL; }
  state->data = data;
  state->size = size;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, state, lift_png_error, lift_png_warning);
  png_infop pinfo = png ? png_create_info_struct(png) : NULL;
  unsigned char *volatile pixels = NULL;
  png_bytep *volatile rows = NULL;
  if (!png || !pinfo) {
    snprintf(info->message, sizeof info->message, "libpng could not start");
    png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
    free(state);
    return NULL;
  }
  if (setjmp(state->jump)) {
    snprintf(info->message, sizeof info->message, "%s", state->message);
    free(pixels);
    free(rows);
    png_destroy_read_struct(&png, &pinfo, NULL);
    free(state);
    return NULL;
  }
  png_set_read_fn(png, state, lift_png_read);
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, pinfo);
  png_uint_32 width = png_get_image_width(png, pinfo), height = png_get_image_height(png, pinfo);
  int depth = png_get_bit_depth(png, pinfo), color = png_get_color_type(png, pinfo);
  info->width = (int)width;
  info->height = (int)height;
  info->bit_depth = depth;
  if (width == 0 || height == 0 || (size_t)width > max_pixels / (size_t)height) {
    snprintf(info->message, sizeof info->message, "%u x %u pixels is more than the limit of %zu pixels",
             (unsigned)width, (unsigned)height, max_pixels);
    png_destroy_read_struct(&png, &pinfo, NULL);
    free(state);
    return NULL;
  }
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  (void)png_set_interlace_handling(png);
  png_read_update_info(png, pinfo);
  int channels = png_get_channels(png, pinfo);
  size_t rowbytes = png_get_rowbytes(png, pinfo);
  if (channels < 1 || channels > 4 || rowbytes != (size_t)width * (size_t)channels) {
    png_error(png, "unexpected sample layout after expansion");
  }
  info->channels = channels;
  pixels = (unsigned char *)malloc((size_t)height * rowbytes);
  rows = (png_bytep *)malloc((size_t)height * sizeof(png_bytep));
  if (!pixels || !rows) png_error(png, "out of memory for the pixels");
  for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * rowbytes;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  free(rows);
  png_destroy_read_struct(&png, &pinfo, NULL);
  free(state);
  return pixels;
}

// MARK: - JPEG

typedef struct {
  struct jpeg_error_mgr base;
  jmp_buf jump;
  char message[200];
} lift_jpeg_error;

static inline void lift_jpeg_exit(j_common_ptr cinfo) {
  lift_jpeg_error *e = (lift_jpeg_error *)cinfo->err;
  char text[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, text);
  snprintf(e->message, sizeof e->message, "%s", text);
  longjmp(e->jump, 1);
}

/// libjpeg's warnings (a premature end of the data, corrupt entropy data) are errors here:
/// libjpeg would otherwise fill the missing part of the picture with grey.
static inline void lift_jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0) lift_jpeg_exit(cinfo);
}

/// Decodes a baseline or progressive JPEG to grey (1 channel) or RGB (3 channels), with
/// libjpeg's defaults (islow DCT, fancy upsampling), as Pillow does; CMYK/YCCK are refused.
/// Returns a malloc'ed buffer of height × width × channels bytes, or NULL with
/// `info->message` set.
static inline unsigned char *lift_jpeg_decode(
    const unsigned char *data, size_t size, size_t max_pixels, lift_image_info *info) {
  memset(info, 0, sizeof *info);
  if (size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
    snprintf(info->message, sizeof info->message, "not a JPEG file (bad signature)");
    return NULL;
  }
  struct jpeg_decompress_struct *cinfo = (struct jpeg_decompress_struct *)calloc(1, sizeof *cinfo);
  lift_jpeg_error *err = (lift_jpeg_error *)calloc(1, sizeof *err);
  unsigned char *volatile pixels = NULL;
  if (!cinfo || !err) {
    free(cinfo); free(err);
    snprintf(info->message, sizeof info->message, "out of memory");
    return NULL;
  }
  cinfo->err = jpeg_std_error(&err->base);
  err->base.error_exit = lift_jpeg_exit;
  err->base.emit_message = lift_jpeg_message;
  if (setjmp(err->jump)) {
    snprintf(info->message, sizeof info->message, "%s", err->message);
    free(pixels);
    jpeg_destroy_decompress(cinfo);
    free(cinfo); free(err);
    return NULL;
  }
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, data, (unsigned long)size);
  jpeg_read_header(cinfo, TRUE);
  info->width = (int)cinfo->image_width;
  info->height = (int)cinfo->image_height;
  info->bit_depth = 8;
  if (cinfo->image_width == 0 || cinfo->image_height == 0 ||
      (size_t)cinfo->image_width > max_pixels / (size_t)cinfo->image_height) {
    snprintf(info->message, sizeof info->message, "%u x %u pixels is more than the limit of %zu pixels",
             (unsigned)cinfo->image_width, (unsigned)cinfo->image_height, max_pixels);
    jpeg_destroy_decompress(cinfo);
    free(cinfo); free(err);
    return NULL;
  }
  if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK) {
    snprintf(info->message, sizeof info->message, "CMYK JPEG is not supported (give grey or RGB)");
    jpeg_destroy_decompress(cinfo);
    free(cinfo); free(err);
    return NULL;
  }
  cinfo->out_color_space = cinfo->jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(cinfo);
  int channels = cinfo->output_components;
  size_t stride = (size_t)cinfo->output_width * (size_t)channels;
  pixels = (unsigned char *)malloc((size_t)cinfo->output_height * stride);
  if (!pixels) {
    snprintf(err->message, sizeof err->message, "out of memory for the pixels");
    longjmp(err->jump, 1);
  }
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = pixels + (size_t)cinfo->output_scanline * stride;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  info->channels = channels;
  info->width = (int)cinfo->output_width;
  info->height = (int)cinfo->output_height;
  jpeg_finish_decompress(cinfo);
  jpeg_destroy_decompress(cinfo);
  free(cinfo); free(err);
  return pixels;
}
#endif
