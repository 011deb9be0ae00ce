/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* libcurl, loaded when a scenario with an http, https or prometheus probe starts, not linked:
 * linked, its 29 libraries (TLS, IDN, SSH, LDAP, ...) are mapped at start and double the idle
 * daemon's memory on every host, most of which never run such a probe. The calls go through
 * sym_* pointers, each typed as curl.h declares the function. */

#include <curl/curl.h>

#define CURL_DLOPEN_FUNCS(X)        \
	X(curl_global_init)         \
	X(curl_version_info)        \
	X(curl_easy_init)           \
	X(curl_easy_setopt)         \
	X(curl_easy_getinfo)        \
	X(curl_easy_strerror)       \
	X(curl_easy_cleanup)        \
	X(curl_multi_init)          \
	X(curl_multi_setopt)        \
	X(curl_multi_add_handle)    \
	X(curl_multi_remove_handle) \
	X(curl_multi_assign)        \
	X(curl_multi_socket_action) \
	X(curl_multi_info_read)     \
	X(curl_multi_cleanup)

#define CURL_DLOPEN_DECLARE(f) extern typeof(f) *sym_##f;
CURL_DLOPEN_FUNCS(CURL_DLOPEN_DECLARE)
#undef CURL_DLOPEN_DECLARE

/* Loads libcurl.so.4 and runs curl_global_init once (the daemon has one thread, as that
 * requires). 0: the sym_* pointers are set; -ELIBACC: not loadable, curl_dlopen_error() says
 * why. A failure is not remembered: installing libcurl4 later needs no restart. */
int curl_dlopen(void);
/* The last failure's reason, naming the library and the package to install. */
const char *curl_dlopen_error(void);
