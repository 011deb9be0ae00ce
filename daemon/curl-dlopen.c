/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "curl-dlopen.h"

#define CURL_DLOPEN_DEFINE(f) typeof(f) *sym_##f;
CURL_DLOPEN_FUNCS(CURL_DLOPEN_DEFINE)
#undef CURL_DLOPEN_DEFINE

/* CURLOPT_PROTOCOLS_STR, which keeps probes to http and https, came in 7.85. */
#define CURL_DLOPEN_MIN_VERSION 0x075500

static void *loaded;
static char error[384];

static int fail(const char *why, const char *detail)
{
	snprintf(error, sizeof(error),
	                "libcurl.so.4 %s (%s); http, https and prometheus probes "
	                "need the libcurl4 package, version 7.85 or later",
	                why, detail);
	return -ELIBACC;
}

int curl_dlopen(void)
{
	const curl_version_info_data *v;
	void *dl;

	if (loaded)
		return 0;
	/* RTLD_LOCAL: curl's symbols stay out of the daemon's namespace; never closed, since
	 * curl_global_cleanup is never called either. */
	dl = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *e = dlerror();

		return fail("cannot be loaded", e ? e : "dlopen failed");
	}
#define CURL_DLOPEN_LOOKUP(f)                                       \
	sym_##f = (typeof(f) *)dlsym(dl, #f);                       \
	if (!sym_##f) {                                             \
		dlclose(dl);                                        \
		return fail("lacks " #f, "too old or not libcurl"); \
	}
	CURL_DLOPEN_FUNCS(CURL_DLOPEN_LOOKUP)
#undef CURL_DLOPEN_LOOKUP
	v = sym_curl_version_info(CURLVERSION_NOW);
	if (!v || v->version_num < CURL_DLOPEN_MIN_VERSION) {
		dlclose(dl);
		return fail("is too old", v ? v->version : "no version");
	}
	if (sym_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		dlclose(dl);
		return fail("did not initialise", "curl_global_init failed");
	}
	loaded = dl;
	return 0;
}

const char *curl_dlopen_error(void)
{
	return error[0] ? error : "libcurl.so.4 was loaded";
}
