/* store_notice.c - telling the process that a revocation was written.
 *
 * A backend marks its open transaction when it appends to the revocation
 * log, and reports the end of every transaction; the mark turns into one
 * call of the listener. Called after the end, never inside the
 * transaction: a listener that reads the log then sees the change. */
#include "store_impl.h"

void ztm_store_on_revocation(struct ztm_store *s, void (*fn)(void *arg), void *arg)
{
	s->on_revocation = fn;
	s->on_revocation_arg = arg;
}

void store_rev_logged(struct ztm_store *s)
{
	s->rev_logged = 1;
}

void store_txn_ended(struct ztm_store *s)
{
	if (!s->rev_logged)
		return;
	s->rev_logged = 0;
	if (s->on_revocation != NULL)
		s->on_revocation(s->on_revocation_arg);
}
