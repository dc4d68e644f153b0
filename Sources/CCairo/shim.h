#ifndef LIFT_CCAIRO_SHIM_H
#define LIFT_CCAIRO_SHIM_H
// Cairo 2D graphics (Debian: libcairo2-dev). Only the LiftPlot module imports this.
#include <cairo.h>
#include <cairo-svg.h>
#include <cairo-pdf.h>
#endif
