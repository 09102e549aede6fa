/* ocsp_notice.c - a revocation made by one worker, seen by all at once.
 *
 * Each worker keeps its own OCSP cache and follows the store's revocation
 * log on a timer ([ocsp] poll_interval). Alone, that lets two workers of
 * one node disagree for up to one interval: a client asking twice could be
 * told "revoked", then "good". The notice closes that window on a node: a
 * counter in one MAP_SHARED page the master maps before it forks. A worker
 * whose store ended a transaction that wrote the revocation log adds one
 * (ztm_store_on_revocation, after the commit); every cache compares the
 * counter with what it last saw before it answers, and reads the log first
 * when it moved. Changes made elsewhere (another node, `ztm` on the store)
 * still arrive by the poll. */
#include <stdatomic.h>
#include <sys/mman.h>

#include "ocsp_int.h"

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the shared notice needs lock-free 64-bit atomics");

struct ocsp_notice {
	_Atomic unsigned long long n;
};

struct ocsp_notice *ocsp_notice_new(struct ztm_error *err)
{
	struct ocsp_notice *p =
	    mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		ztm_error_set(err, ZTM_E_NOMEM, "OCSP notice: mmap failed");
		return NULL;
	}
	return p; /* a fresh anonymous mapping is zero */
}

void ocsp_notice_free(struct ocsp_notice *p)
{
	if (p != NULL)
		munmap(p, sizeof(*p));
}

void ocsp_notice_post(void *p)
{
	atomic_fetch_add_explicit(&((struct ocsp_notice *)p)->n, 1, memory_order_release);
}

uint64_t ocsp_notice_read(const struct ocsp_notice *p)
{
	return p != NULL ? atomic_load_explicit(&p->n, memory_order_acquire) : 0;
}
