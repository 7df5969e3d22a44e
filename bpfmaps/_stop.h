/* Stop flag for the C loops (bpfmaps._stop.c): a signal handler sets it, every
 * per-element / chunked loop of the shim checks it before its next syscall and
 * returns -EINTR with the count done so far.  Plain prototypes only (cffi cdef). */

/* Install the stop handler for signal `sig` on top of the current one (which it
 * still calls: Python's own handler keeps working).  0 or -errno. */
int bpfm_stop_install(int sig);
/* Put back the handler that was there before bpfm_stop_install.  0 or -errno. */
int bpfm_stop_uninstall(int sig);
/* The first signal number caught since the last reset, or 0. */
int bpfm_stop_pending(void);
/* Ask the loops to stop as if `sig` had been caught (0 clears the flag). */
void bpfm_stop_set(int sig);
