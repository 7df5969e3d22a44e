/* Stop flag for the shim's C loops; see _stop.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "_stop.h"

#define NSIG_MAX 65

/* read by the loops in _shim.c (declared extern there) */
volatile sig_atomic_t bpfm_stop_sig;

static struct sigaction prev[NSIG_MAX];
static int installed[NSIG_MAX];

static void on_signal(int sig, siginfo_t *info, void *ctx)
{
    int saved = errno;

    if (!bpfm_stop_sig)
        bpfm_stop_sig = sig;
    if (sig > 0 && sig < NSIG_MAX) {
        struct sigaction *p = &prev[sig];

        if (p->sa_flags & SA_SIGINFO) {
            if (p->sa_sigaction)
                p->sa_sigaction(sig, info, ctx);
        } else if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN && p->sa_handler) {
            p->sa_handler(sig);
        }
    }
    errno = saved;
}

int bpfm_stop_install(int sig)
{
    struct sigaction sa, old;

    if (sig <= 0 || sig >= NSIG_MAX)
        return -EINVAL;
    if (installed[sig])
        return 0;
    if (sigaction(sig, NULL, &old) < 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = (old.sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
    sa.sa_mask = old.sa_mask;
    prev[sig] = old;
    if (sigaction(sig, &sa, NULL) < 0)
        return -errno;
    installed[sig] = 1;
    return 0;
}

int bpfm_stop_uninstall(int sig)
{
    if (sig <= 0 || sig >= NSIG_MAX)
        return -EINVAL;
    if (!installed[sig])
        return 0;
    installed[sig] = 0;
    if (sigaction(sig, &prev[sig], NULL) < 0)
        return -errno;
    return 0;
}

int bpfm_stop_pending(void)
{
    return bpfm_stop_sig;
}

void bpfm_stop_set(int sig)
{
    bpfm_stop_sig = sig;
}
