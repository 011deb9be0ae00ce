/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One HTTP(S) GET at a time over libcurl's multi interface, driven by the daemon's sd-event
 * loop: curl hands its sockets (CURLMOPT_SOCKETFUNCTION) and its one timeout
 * (CURLMOPT_TIMERFUNCTION) to the loop, and the loop calls curl_multi_socket_action when they
 * fire, so no call ever waits. Names are resolved by libcurl's threaded resolver (chaosd
 * refuses a DNS name when its libcurl lacks one). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct http_client;

struct http_request {
	const char *url;
	const char *ca_file; /* NULL: the system's CAs */
	bool tls_verify;
	bool follow_redirects;
	bool by_name;       /* the host is a DNS name */
	uint64_t timeout_usec;
	size_t max_body;    /* kept, NUL-terminated; the rest is read and dropped */
};

struct http_response {
	int error;            /* 0: a response came (any status); else why says what failed */
	const char *why;
	long status;
	const char *body;     /* the first max_body bytes, NUL-terminated */
	size_t body_len;
	bool body_truncated;
	/* Taken by curl inside curl_multi_socket_action, which the loop calls when a socket is
	 * ready: a busy loop makes them later, never earlier. From the start of the request. */
	uint64_t first_byte_usec, total_usec;
};

/* The response, or the failure; may free the client. */
typedef void (*http_done_fn)(void *userdata, const struct http_response *r);

int http_client_new(sd_event *event, struct http_client **ret);
/* Cancels a request in flight (its callback is not called). Accepts NULL. */
struct http_client *http_client_free(struct http_client *c);
/* Starts a GET; -EBUSY while one is in flight. done is called from the loop, never from here. */
int http_client_get(struct http_client *c, const struct http_request *req, http_done_fn done,
		void *userdata);
/* Loads libcurl now (once; a failure is tried again next time): 0, or -ELIBACC. */
int http_client_load(void);
/* Why http_client_new or http_client_load failed with -ELIBACC: libcurl could not be
 * loaded (curl-dlopen.h). */
const char *http_client_load_error(void);
