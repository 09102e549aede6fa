/* test_shamir.c - M-of-N split/combine with libgfshare, and share files:
 * round trips for several (M, N) and every M-subset start, M-1 shares fail,
 * altered or foreign shares are caught, share files parse and catch typos. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/rand.h>

#include "shamir.h"

#define KEY_ID  "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
#define KEY_ID2 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct split {
	unsigned m, n;
	struct ztm_share sh[8];
	uint8_t secret[300];
};

static void do_split(struct split *s, unsigned m, unsigned n, const char *key_id)
{
	struct ztm_error err;
	unsigned i;

	s->m = m;
	s->n = n;
	for (i = 0; i < 8; i++)
		ztm_share_init(&s->sh[i]);
	assert_int_equal(RAND_bytes(s->secret, sizeof(s->secret)), 1);
	assert_int_equal(ztm_shamir_split(s->secret, sizeof(s->secret), m, n, key_id, s->sh, &err),
	                 0);
}

static void free_split(struct split *s)
{
	unsigned i;
	for (i = 0; i < 8; i++)
		ztm_share_free(&s->sh[i]);
}

/* Combines k shares starting at index `first` (wrapping) into out. */
static int combine_from(struct split *s, unsigned first, unsigned k, struct ztm_buf *out,
                        struct ztm_error *err)
{
	struct ztm_share pick[8];
	unsigned i;

	for (i = 0; i < k; i++)
		pick[i] = s->sh[(first + i) % s->n]; /* shallow: borrowed bytes */
	return ztm_shamir_combine(pick, k, out, err);
}

static void test_round_trips(void **state)
{
	static const unsigned mn[][2] = {{2, 2}, {2, 3}, {3, 5}, {4, 7}, {5, 5}, {2, 8}};
	size_t r;
	unsigned first, k;

	for (r = 0; r < sizeof(mn) / sizeof(mn[0]); r++) {
		struct split s;
		do_split(&s, mn[r][0], mn[r][1], KEY_ID);
		for (first = 0; first < s.n; first++) {
			for (k = s.m; k <= s.n; k++) {
				struct ztm_buf out;
				struct ztm_error err;
				ztm_buf_init(&out, 0);
				assert_int_equal(combine_from(&s, first, k, &out, &err), 0);
				assert_int_equal(out.len, sizeof(s.secret));
				assert_memory_equal(out.data, s.secret, out.len);
				ztm_buf_free(&out);
			}
			/* M-1 shares: refused by the threshold check ... */
			{
				struct ztm_buf out;
				struct ztm_error err;
				ztm_buf_init(&out, 0);
				assert_int_equal(combine_from(&s, first, s.m - 1, &out, &err), -1);
				assert_int_equal(err.code, ZTM_E_DENIED);
				assert_int_equal(out.len, 0);
				ztm_buf_free(&out);
			}
		}
		free_split(&s);
	}
}

/* ... and, should someone lie about the threshold, by the digest. */
static void test_too_few_with_forged_threshold(void **state)
{
	struct split s;
	struct ztm_share pick[2];
	struct ztm_buf out;
	struct ztm_error err;

	do_split(&s, 3, 5, KEY_ID);
	pick[0] = s.sh[0];
	pick[1] = s.sh[3];
	pick[0].threshold = pick[1].threshold = 2;
	ztm_buf_init(&out, 0);
	assert_int_equal(ztm_shamir_combine(pick, 2, &out, &err), -1);
	assert_int_equal(err.code, ZTM_E_BADSIG);
	assert_int_equal(out.len, 0);
	ztm_buf_free(&out);
	free_split(&s);
}

static void test_altered_share(void **state)
{
	struct split s;
	struct ztm_buf out;
	struct ztm_error err;
	size_t pos;

	do_split(&s, 3, 5, KEY_ID);
	for (pos = 0; pos < s.sh[1].bytes.len; pos += 37) {
		s.sh[1].bytes.data[pos] ^= 0x01;
		ztm_buf_init(&out, 0);
		assert_int_equal(combine_from(&s, 0, 3, &out, &err), -1);
		assert_int_equal(err.code, ZTM_E_BADSIG);
		assert_non_null(strstr(err.msg, "altered"));
		ztm_buf_free(&out);
		s.sh[1].bytes.data[pos] ^= 0x01;
	}
	free_split(&s);
}

static void test_mixed_splits_and_duplicates(void **state)
{
	struct split a, b;
	struct ztm_share pick[3];
	struct ztm_buf out;
	struct ztm_error err;

	do_split(&a, 2, 3, KEY_ID);
	do_split(&b, 2, 3, KEY_ID2);
	ztm_buf_init(&out, 0);
	pick[0] = a.sh[0];
	pick[1] = b.sh[1];
	assert_int_equal(ztm_shamir_combine(pick, 2, &out, &err), -1);
	assert_int_equal(err.code, ZTM_E_CONFLICT);
	/* Same key id but another split: only the digest can tell. */
	free_split(&b);
	do_split(&b, 2, 3, KEY_ID);
	pick[1] = b.sh[1];
	assert_int_equal(ztm_shamir_combine(pick, 2, &out, &err), -1);
	assert_int_equal(err.code, ZTM_E_BADSIG);
	pick[1] = a.sh[0];
	assert_int_equal(ztm_shamir_combine(pick, 2, &out, &err), -1);
	assert_int_equal(err.code, ZTM_E_CONFLICT);
	assert_non_null(strstr(err.msg, "twice"));
	assert_int_equal(out.len, 0);
	ztm_buf_free(&out);
	free_split(&a);
	free_split(&b);
}

static void test_split_refusals(void **state)
{
	static const unsigned rows[][2] = {{1, 3}, {4, 3}, {0, 0}, {2, 256}};
	uint8_t secret[16] = {1};
	struct ztm_share sh[1];
	struct ztm_error err;
	size_t i;

	ztm_share_init(&sh[0]);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(ztm_shamir_split(secret, sizeof(secret), rows[i][0], rows[i][1],
		                                  KEY_ID, sh, &err),
		                 -1);
		assert_int_equal(err.code, ZTM_E_USAGE);
	}
	assert_int_equal(ztm_shamir_split(secret, 0, 2, 3, KEY_ID, sh, &err), -1);
	assert_int_equal(ztm_shamir_split(secret, sizeof(secret), 2, 3, "abc", sh, &err), -1);
	ztm_share_free(&sh[0]);
}

static void test_share_file_round_trip_and_typos(void **state)
{
	struct split s;
	struct ztm_buf text;
	struct ztm_share back;
	struct ztm_error err;
	char *p;

	do_split(&s, 3, 5, KEY_ID);
	ztm_buf_init(&text, 0);
	ztm_share_init(&back);
	assert_int_equal(ztm_share_format(&s.sh[2], &text, &err), 0);
	assert_int_equal(ztm_share_parse((const char *)text.data, text.len, "s3", &back, &err), 0);
	assert_int_equal(back.index, 3);
	assert_int_equal(back.threshold, 3);
	assert_int_equal(back.count, 5);
	assert_string_equal(back.key_id, KEY_ID);
	assert_int_equal(back.bytes.len, s.sh[2].bytes.len);
	assert_memory_equal(back.bytes.data, s.sh[2].bytes.data, back.bytes.len);

	/* One changed character anywhere in the share line is caught. */
	p = strstr(ztm_buf_cstr(&text), "share: ");
	assert_non_null(p);
	{
		char was = p[20];
		p[20] = was == 'A' ? 'B' : 'A';
		assert_int_equal(
		    ztm_share_parse((const char *)text.data, text.len, "s3", &back, &err), -1);
		assert_non_null(strstr(err.msg, "checksum mismatch"));
		p[20] = was;
	}
	/* So is a changed index. */
	p = strstr(ztm_buf_cstr(&text), "index: 3");
	p[7] = '4';
	assert_int_equal(ztm_share_parse((const char *)text.data, text.len, "s3", &back, &err), -1);
	assert_non_null(strstr(err.msg, "checksum"));
	p[7] = '3';
	assert_int_equal(ztm_share_parse((const char *)text.data, text.len, "s3", &back, &err), 0);
	ztm_share_free(&back);
	ztm_buf_free(&text);
	free_split(&s);
}

static void test_share_parse_refusals(void **state)
{
	static const char *rows[] = {
	    "",
	    "ztm-share-v2\n",
	    "ztm-share-v1\nkey-id: xyz\n",
	    "ztm-share-v1\nkey-id: " KEY_ID "\nindex: 0\nthreshold: 2\ncount: 3\nshare: "
	    "AAAA\nchecksum: 00\n",
	    "ztm-share-v1\nkey-id: " KEY_ID "\nindex: 4\nthreshold: 2\ncount: 3\nshare: "
	    "AAAA\nchecksum: 00\n",
	    "ztm-share-v1\nkey-id: " KEY_ID "\nindex: 1\nthreshold: 2\ncount: 3\nshare: "
	    "!!!!\nchecksum: 00\n",
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ztm_share sh;
		struct ztm_error err;
		ztm_share_init(&sh);
		assert_int_equal(ztm_share_parse(rows[i], strlen(rows[i]), "bad.txt", &sh, &err),
		                 -1);
		assert_int_equal(err.code, ZTM_E_PARSE);
		assert_non_null(strstr(err.msg, "bad.txt"));
		ztm_share_free(&sh);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_too_few_with_forged_threshold),
	    cmocka_unit_test(test_altered_share),
	    cmocka_unit_test(test_mixed_splits_and_duplicates),
	    cmocka_unit_test(test_split_refusals),
	    cmocka_unit_test(test_share_file_round_trip_and_typos),
	    cmocka_unit_test(test_share_parse_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
