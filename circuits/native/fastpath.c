/*
 * The compiled fast path of a simulation worker (Python side: circuits/native/__init__.py).
 *
 * Two loops that a worker runs once per simulation and that cost more in Python than what they
 * compute, because ngspice's run has just emptied the processor's caches:
 *
 *   read_scalars  asks ngspice for one-point vectors (operating-point values) by their full
 *                 names, through ngspice's own ngGet_Vec_Info, and copies each value;
 *   measure_ac    the AC measurement of circuits.results.ac_values from the magnitude onwards.
 *
 * measure_ac repeats the Python form's arithmetic operation by operation, in the same order:
 * the complex quotient by NumPy's formula (Smith's, with the reciprocal of the denominator),
 * atan2 and log10 of the C library (which NumPy also calls for them), Python's float modulo
 * and round-half-even. Built with -ffp-contract=off (no fused multiply-add): the results equal
 * the Python form's to the last bit (tests/circuits/test_native.py checks it).
 *
 * Built by `make setup` (gcc -O2 -shared -fPIC -ffp-contract=off); without it the Python forms
 * run, with the same results. Book chapter "Circuits, process models and simulation", section
 * "The simulation engine".
 */
#include <math.h>
#include <stdint.h>

/* ngspice's sharedspice.h */
typedef struct { double cx_real, cx_imag; } ngcomplex;
typedef struct vector_info {
    char *v_name;
    int v_type;
    short v_flags;
    double *v_realdata;
    ngcomplex *v_compdata;
    int v_length;
} vector_info;
typedef vector_info *(*get_vec_info)(char *);

enum { READ_OK = 0, READ_MISSING = 1, READ_NOT_FINITE = 2, READ_NOT_SCALAR = 3 };

/*
 * For each of the n names (NULL: no plot for it), status[k] is READ_OK with the value in
 * values[k], READ_NOT_FINITE with the value, READ_MISSING (no such vector) or READ_NOT_SCALAR
 * (not a one-point real vector: the caller reads it another way). `get` is the address of
 * ngspice's ngGet_Vec_Info. Returns how many are not READ_OK.
 */
int read_scalars(uintptr_t get, char **names, int n, double *values, int *status)
{
    get_vec_info ask = (get_vec_info) get;
    int bad = 0;
    for (int k = 0; k < n; k++) {
        values[k] = NAN;
        if (names[k] == 0) {
            status[k] = READ_MISSING;
            bad++;
            continue;
        }
        vector_info *info = ask(names[k]);
        if (info == 0) {
            status[k] = READ_MISSING;
            bad++;
        } else if (info->v_length == 1 && info->v_realdata != 0) {
            double v = info->v_realdata[0];
            values[k] = v;
            if (isfinite(v)) {
                status[k] = READ_OK;
            } else {
                status[k] = READ_NOT_FINITE;
                bad++;
            }
        } else {
            status[k] = READ_NOT_SCALAR;
            bad++;
        }
    }
    return bad;
}

enum { MEASURED = 0, NO_CROSSING = 1, NOT_FINITE = 2, ZERO = 3, INVERTED = 4, ABOVE_POLE = 5 };

static const double DEGREES = 180.0 / 3.14159265358979323846;

/* Python's float modulo (the sign of the divisor) */
static double py_mod(double x, double y)
{
    double m = fmod(x, y);
    if (m != 0.0) {
        if ((y < 0) != (m < 0))
            m += y;
    } else {
        m = copysign(0.0, y);
    }
    return m;
}

/* the unwrapped phase (deg) at point k */
static double phase_at(const double *turns, double angle0, double shift, int k)
{
    if (k == 0)
        return angle0 * DEGREES - shift;
    return (turns[k - 1] + angle0) * DEGREES - shift;
}

/* the cubic through (xs, ys) at x, Lagrange form, the products in the Python form's order */
static double cubic_at(const double *xs, const double *ys, double x)
{
    double x0 = xs[0], x1 = xs[1], x2 = xs[2], x3 = xs[3];
    double w0 = ys[0] / ((x0 - x1) * (x0 - x2) * (x0 - x3));
    double w1 = ys[1] / ((x1 - x0) * (x1 - x2) * (x1 - x3));
    double w2 = ys[2] / ((x2 - x0) * (x2 - x1) * (x2 - x3));
    double w3 = ys[3] / ((x3 - x0) * (x3 - x1) * (x3 - x2));
    double d0 = x - x0, d1 = x - x1, d2 = x - x2, d3 = x - x3;
    return w0 * d1 * d2 * d3 + w1 * d0 * d2 * d3 + w2 * d0 * d1 * d3 + w3 * d0 * d1 * d2;
}

static int falls(const double *mag, int i)
{
    return mag[i] > 1.0 && !(mag[i + 1] > 1.0);
}

/*
 * The metrics of one response of n points: log_f = log10 of the (checked) frequencies, mag =
 * numpy.abs of the response h, tolerance = LOW_FREQUENCY_PHASE_TOLERANCE, cubic = 1 for the
 * cubic interpolation (0: linear); turns = scratch of n doubles. Writes out[0..3] = gain (dB),
 * log10 of the unity-gain frequency, phase margin (deg), low-frequency phase (deg), and *at =
 * the first point of least |H|. Returns MEASURED, NO_CROSSING (gain only), NOT_FINITE, ZERO,
 * INVERTED or ABOVE_POLE.
 */
int measure_ac(const double *log_f, const double *mag, const ngcomplex *h, int n,
               double tolerance, int cubic, double *turns, double *out, int *at)
{
    double least = INFINITY;
    *at = 0;
    out[0] = out[1] = out[2] = out[3] = NAN;
    for (int k = 0; k < n; k++) {
        if (!isfinite(mag[k]))
            return NOT_FINITE;
        if (mag[k] < least) {
            least = mag[k];
            *at = k;
        }
    }
    if (least <= 0.0)
        return ZERO;
    double angle0 = atan2(h[0].cx_imag, h[0].cx_real);
    double phase0 = angle0 * DEGREES;
    out[3] = phase0;
    double off = fabs(py_mod(phase0 + 180.0, 360.0) - 180.0);
    if (off > 180.0 - tolerance)
        return INVERTED;
    if (off > tolerance)
        return ABOVE_POLE;
    double mag0 = mag[0];
    out[0] = 20.0 * log10(mag0);
    if (mag0 <= 1.0)
        return NO_CROSSING;
    int last_crossing = -1;
    for (int i = 0; i < n - 1; i++)
        if (falls(mag, i))
            last_crossing = i;
    if (last_crossing < 0)
        return NO_CROSSING;
    int last = last_crossing + 3 > 4 ? last_crossing + 3 : 4;
    if (last > n)
        last = n;
    double total = 0.0;
    for (int k = 0; k < last - 1; k++) {
        /* h[k+1] / h[k] as NumPy divides complex numbers */
        double ar = h[k + 1].cx_real, ai = h[k + 1].cx_imag;
        double br = h[k].cx_real, bi = h[k].cx_imag;
        double qr, qi;
        if (fabs(br) >= fabs(bi)) {
            if (br == 0.0 && bi == 0.0) {
                qr = ar / fabs(br);
                qi = ai / fabs(br);
            } else {
                double rat = bi / br;
                double scl = 1.0 / (br + bi * rat);
                qr = (ar + ai * rat) * scl;
                qi = (ai - ar * rat) * scl;
            }
        } else {
            double rat = br / bi;
            double scl = 1.0 / (bi + br * rat);
            qr = (ar * rat + ai) * scl;
            qi = (ai * rat - ar) * scl;
        }
        double turn = atan2(qi, qr);
        total = k == 0 ? turn : total + turn;
        turns[k] = total;
    }
    double shift = 360.0 * nearbyint(phase0 / 360.0);
    int found = 0;
    for (int i = 0; i < n - 1; i++) {
        if (!falls(mag, i))
            continue;
        double x, margin;
        if (!cubic || n < 4) {
            double lm0 = log10(mag[i]), lm1 = log10(mag[i + 1]);
            double t = lm0 / (lm0 - lm1);
            double p0 = phase_at(turns, angle0, shift, i);
            x = log_f[i] + t * (log_f[i + 1] - log_f[i]);
            margin = 180.0 + p0 + t * (phase_at(turns, angle0, shift, i + 1) - p0);
        } else {
            int start = i - 1 > 0 ? i - 1 : 0;
            if (start > n - 4)
                start = n - 4;
            double xs[4], ys[4], ps[4];
            for (int j = 0; j < 4; j++) {
                xs[j] = log_f[start + j];
                ys[j] = log10(mag[start + j]);
            }
            double a = xs[i - start], b = xs[i + 1 - start];
            double fa = ys[i - start], fb = ys[i + 1 - start];
            int side = 0;
            x = b;
            int steps = fb != 0.0 ? 60 : 0;
            for (int s = 0; s < steps; s++) {
                x = b - fb * (b - a) / (fb - fa);
                double fx = cubic_at(xs, ys, x);
                if (fabs(fx) < 1e-15 || b - a < 1e-13)
                    break;
                if ((fx > 0) == (fa > 0)) {
                    a = x;
                    fa = fx;
                    if (side == -1)
                        fb /= 2;
                    side = -1;
                } else {
                    b = x;
                    fb = fx;
                    if (side == 1)
                        fa /= 2;
                    side = 1;
                }
            }
            for (int j = 0; j < 4; j++)
                ps[j] = phase_at(turns, angle0, shift, start + j);
            margin = 180.0 + cubic_at(xs, ps, x);
        }
        if (found == 0) {          /* the first crossing's frequency; the least margin */
            out[1] = x;
            out[2] = margin;
        } else if (margin < out[2]) {
            out[2] = margin;
        }
        found++;
    }
    return MEASURED;
}

#ifndef FASTPATH_SOURCE_SHA
#define FASTPATH_SOURCE_SHA "unknown"
#endif

/* the SHA-256 of this file, given by the build (circuits.native loads no other build) */
const char *fastpath_source(void)
{
    return FASTPATH_SOURCE_SHA;
}
