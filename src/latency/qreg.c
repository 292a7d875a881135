/* qreg.c - linear quantile regression by iteratively reweighted least squares.
 *
 * Minimises sum_i rho_tau(y_i - x_i.beta), rho_tau(r) = r * (tau - [r < 0]), the pinball loss
 * XGBoost's reg:quantileerror uses. IRLS writes rho_tau(r) = w(r) r^2 with
 * w(r) = (r >= 0 ? tau : 1 - tau) / |r| and alternates a weighted least-squares solve with a
 * weight update (Schlossmacher 1973); |r| is floored at eps so a residual at zero cannot blow the
 * weight up. Each iteration costs n*d^2 for the normal matrix plus a d^3 Cholesky: with d = 16 and
 * n = 8192 that is ~2 M multiply-adds, and 40 iterations stay well under a second on one core,
 * off the request path.
 *
 * Columns 1..d-1 are standardised internally and a small ridge keeps constant columns (a role
 * never seen, TPOT's tokens-generated for TTFT) at zero instead of making the system singular.
 * The answer is mapped back to raw columns. The fit keeps the iterate with the lowest pinball
 * loss seen, since IRLS is not monotone.
 *
 * Rejected: the simplex/interior-point LP (exact, but O(n d^2) per pivot and a lot of code);
 * plain subgradient descent (needs a step schedule and converges slowly on skewed latencies).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "latency/latency.h"

#define QREG_ITERS 40   /* IRLS iterations */
#define QREG_MAXD  32   /* columns supported */
#define QREG_RIDGE 1e-6 /* ridge per row on standardised columns */

/* Solves A x = b for symmetric positive definite A (d x d, destroyed). Returns false if not PD. */
static bool cholesky_solve(double *A, double *b, size_t d)
{
    for (size_t j = 0; j < d; j++) {
        double s = A[j * d + j];
        for (size_t k = 0; k < j; k++)
            s -= A[j * d + k] * A[j * d + k];
        if (!(s > 0.0))
            return false;
        double l = sqrt(s);
        A[j * d + j] = l;
        for (size_t i = j + 1; i < d; i++) {
            double t = A[i * d + j];
            for (size_t k = 0; k < j; k++)
                t -= A[i * d + k] * A[j * d + k];
            A[i * d + j] = t / l;
        }
    }
    for (size_t i = 0; i < d; i++) { /* forward: L z = b */
        double t = b[i];
        for (size_t k = 0; k < i; k++)
            t -= A[i * d + k] * b[k];
        b[i] = t / A[i * d + i];
    }
    for (size_t i = d; i-- > 0;) { /* back: L^T x = z */
        double t = b[i];
        for (size_t k = i + 1; k < d; k++)
            t -= A[k * d + i] * b[k];
        b[i] = t / A[i * d + i];
    }
    return true;
}

static double pinball(const double *Z, const double *y, size_t n, size_t d, double tau,
                      const double *beta, double *r)
{
    double loss = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double *z = Z + i * d;
        double p = 0.0;
        for (size_t k = 0; k < d; k++)
            p += z[k] * beta[k];
        r[i] = y[i] - p;
        loss += r[i] >= 0 ? tau * r[i] : (tau - 1.0) * r[i];
    }
    return loss;
}

int sy_latency__qreg_fit(const double *X, const double *y, size_t n, size_t d, double tau,
                         double *beta)
{
    if (n < 2 || d < 1 || d > QREG_MAXD || !(tau > 0.0 && tau < 1.0))
        return SY_EINVAL;
    double mu[QREG_MAXD] = {0}, sd[QREG_MAXD];
    for (size_t k = 0; k < d; k++) {
        double s = 0.0, s2 = 0.0;
        for (size_t i = 0; i < n; i++) {
            s += X[i * d + k];
            s2 += X[i * d + k] * X[i * d + k];
        }
        double m = s / (double)n, v = s2 / (double)n - m * m;
        mu[k] = k == 0 ? 0.0 : m;
        sd[k] = k == 0 ? 1.0 : (v > 1e-12 ? sqrt(v) : 0.0);
    }
    double *Z = malloc(n * d * sizeof(double));
    double *w = malloc(n * sizeof(double));
    double *r = malloc(n * sizeof(double));
    int rc = SY_EINVAL;
    if (!Z || !w || !r)
        goto out;
    double ysum = 0.0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < d; k++)
            Z[i * d + k] = sd[k] > 0.0 ? (X[i * d + k] - mu[k]) / sd[k] : 0.0;
        w[i] = 1.0;
        ysum += fabs(y[i]);
    }
    double eps = 1e-6 * (ysum / (double)n) + 1e-12;
    double b[QREG_MAXD], best[QREG_MAXD], A[QREG_MAXD * QREG_MAXD];
    double best_loss = INFINITY;
    for (int it = 0; it < QREG_ITERS; it++) {
        memset(A, 0, sizeof(double) * d * d);
        memset(b, 0, sizeof(double) * d);
        for (size_t i = 0; i < n; i++) {
            const double *z = Z + i * d;
            double wi = w[i];
            for (size_t j = 0; j < d; j++) {
                double wz = wi * z[j];
                b[j] += wz * y[i];
                for (size_t k = 0; k <= j; k++)
                    A[j * d + k] += wz * z[k];
            }
        }
        double wsum = 0.0;
        for (size_t i = 0; i < n; i++)
            wsum += w[i];
        for (size_t j = 0; j < d; j++) {
            for (size_t k = 0; k < j; k++)
                A[k * d + j] = A[j * d + k];
            if (j > 0)
                A[j * d + j] += QREG_RIDGE * wsum + 1e-300;
        }
        if (!cholesky_solve(A, b, d))
            break;
        double loss = pinball(Z, y, n, d, tau, b, r);
        if (!isfinite(loss))
            break;
        if (loss < best_loss) {
            bool settled = best_loss - loss < 1e-9 * best_loss;
            best_loss = loss;
            memcpy(best, b, sizeof(double) * d);
            if (settled)
                break;
        }
        for (size_t i = 0; i < n; i++) {
            double a = fabs(r[i]) > eps ? fabs(r[i]) : eps;
            w[i] = (r[i] >= 0 ? tau : 1.0 - tau) / a;
        }
    }
    if (!isfinite(best_loss))
        goto out;
    /* back to raw columns: z_k = (x_k - mu_k) / sd_k */
    double icpt = best[0];
    for (size_t k = 1; k < d; k++) {
        beta[k] = sd[k] > 0.0 ? best[k] / sd[k] : 0.0;
        icpt -= beta[k] * mu[k];
    }
    beta[0] = icpt;
    rc = 0;
    for (size_t k = 0; k < d; k++)
        if (!isfinite(beta[k]))
            rc = SY_EINVAL;
out:
    free(Z);
    free(w);
    free(r);
    return rc;
}
