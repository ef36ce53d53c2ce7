/* kernels.c — the kernel context: thread count and reference switch. */
#include "sa/kernels.h"

#include <unistd.h>

#ifdef SA_HAVE_OPENBLAS
#include <cblas.h>
#endif

void sa_kernels_init(sa_kernels *k, int n_threads) {
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    k->n_threads = n_threads;
    k->reference = false;
    k->path = SA_MATMUL_AUTO;
}

const char *sa_kernels_backend(void) {
#if defined(SA_HAVE_OPENBLAS) && defined(SA_HAVE_OPENMP)
    return "openblas+openmp";
#elif defined(SA_HAVE_OPENBLAS)
    return "openblas";
#elif defined(SA_HAVE_OPENMP)
    return "openmp";
#else
    return "scalar";
#endif
}
