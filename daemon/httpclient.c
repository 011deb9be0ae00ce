/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "curl-dlopen.h"
#include "httpclient.h"
#include "macro.h"
#include "timeutil.h"

struct http_client {
	sd_event *event;
	CURLM *multi;
	sd_event_source *timer; /* curl's one timeout */

	/* the request in flight; easy NULL: idle */
	CURL *easy;
	http_done_fn done;
	void *userdata;
	char *body;
	size_t body_len, max_body;
	bool truncated;
	uint64_t started;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct http_client *c = userdata;
	size_t n = size * nmemb, keep = MIN(n, c->max_body - c->body_len);

	memcpy(c->body + c->body_len, data, keep);
	c->body_len += keep;
	c->body[c->body_len] = '\0';
	c->truncated |= keep < n;
	/* The rest is read and dropped: the status and the time matter, the timeout bounds it. */
	return n;
}

static void finish(struct http_client *c, CURLcode code)
{
	_cleanup_free_ char *body = TAKE_PTR(c->body);
	char why[CURL_ERROR_SIZE + 32];
	struct http_response r = { .body = body, .body_len = c->body_len,
		.body_truncated = c->truncated };
	http_done_fn done = c->done;
	void *userdata = c->userdata;
	curl_off_t t;

	if (code != CURLE_OK) {
		r.error = -EIO;
		snprintf(why, sizeof(why), "%s", c->errbuf[0] ? c->errbuf : sym_curl_easy_strerror(code));
		r.why = why;
	} else
		(void)sym_curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r.status);
	if (sym_curl_easy_getinfo(c->easy, CURLINFO_STARTTRANSFER_TIME_T, &t) == CURLE_OK && t > 0)
		r.first_byte_usec = (uint64_t)t;
	if (sym_curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME_T, &t) == CURLE_OK && t > 0)
		r.total_usec = (uint64_t)t;
	if (!r.total_usec)
		r.total_usec = now_usec(CLOCK_MONOTONIC) - c->started;
	(void)sym_curl_multi_remove_handle(c->multi, c->easy);
	sym_curl_easy_cleanup(c->easy);
	c->easy = NULL;
	/* Last: it may free c. */
	done(userdata, &r);
}

static void check_done(struct http_client *c)
{
	CURLMsg *m;
	int left;

	while (c->easy && (m = sym_curl_multi_info_read(c->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == c->easy) {
			finish(c, m->data.result);
			return;
		}
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct http_client *c = userdata;
	int flags = 0, running;

	(void)es;
	if (revents & (EPOLLIN | EPOLLHUP))
		flags |= CURL_CSELECT_IN;
	if (revents & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (revents & EPOLLERR)
		flags |= CURL_CSELECT_ERR;
	(void)sym_curl_multi_socket_action(c->multi, fd, flags, &running);
	check_done(c);
	return 0;
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct http_client *c = userdata;
	int running;

	(void)es;
	(void)usec;
	(void)sym_curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
	return 0;
}

/* curl says which events it wants on a socket, or that it is done with it. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	sd_event_source *es = socketp;
	uint32_t events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (es) {
			sd_event_source_disable_unref(es);
			(void)sym_curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		events |= EPOLLOUT;
	if (es)
		return sd_event_source_set_io_events(es, events) < 0 ? -1 : 0;
	if (sd_event_add_io(c->event, &es, fd, events, on_io, c) < 0)
		return -1;
	if (sym_curl_multi_assign(c->multi, fd, es) != CURLM_OK) {
		sd_event_source_disable_unref(es);
		return -1;
	}
	return 0;
}

/* curl wants to be called after timeout_ms (0: as soon as possible, from the loop), or never. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;

	(void)multi;
	if (timeout_ms < 0)
		return sd_event_source_set_enabled(c->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
	if (sd_event_source_set_time_relative(c->timer, (uint64_t)timeout_ms * USEC_PER_MSEC) < 0 ||
			sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0)
		return -1;
	return 0;
}

int http_client_new(sd_event *event, struct http_client **ret)
{
	struct http_client *c;
	int r;

	r = curl_dlopen();
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->event = event;
	c->multi = sym_curl_multi_init();
	if (!c->multi) {
		free(c);
		return -ENOMEM;
	}
	r = sd_event_add_time_relative(event, &c->timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC,
			on_timer, c);
	if (r >= 0)
		r = sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
	if (r < 0 || sym_curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) ||
			sym_curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) ||
			sym_curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) ||
			sym_curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c)) {
		http_client_free(c);
		return r < 0 ? r : -EIO;
	}
	*ret = c;
	return 0;
}

struct http_client *http_client_free(struct http_client *c)
{
	if (!c)
		return NULL;
	/* Before the timer goes: removing a transfer may call on_curl_socket and on_curl_timer. */
	if (c->easy) {
		(void)sym_curl_multi_remove_handle(c->multi, c->easy);
		sym_curl_easy_cleanup(c->easy);
	}
	(void)sym_curl_multi_cleanup(c->multi);
	c->timer = sd_event_source_disable_unref(c->timer);
	free(c->body);
	free(c);
	return NULL;
}

int http_client_get(struct http_client *c, const struct http_request *req, http_done_fn done,
		void *userdata)
{
	long ms = (long)MAX(req->timeout_usec / USEC_PER_MSEC, 1);
	CURL *e;
	bool fail;

	if (c->easy)
		return -EBUSY;
	/* Without the threaded resolver a name lookup would block the loop. */
	if (req->by_name &&
			!(sym_curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_ASYNCHDNS))
		return -EOPNOTSUPP;
	c->body = malloc(req->max_body + 1);
	e = sym_curl_easy_init();
	if (!c->body || !e) {
		c->body = mfree(c->body);
		sym_curl_easy_cleanup(e);
		return -ENOMEM;
	}
	c->body[0] = '\0';
	c->body_len = 0;
	c->max_body = req->max_body;
	c->truncated = false;
	c->errbuf[0] = '\0';
	/* A fresh connection each time: a probe measures what a new client meets; no proxy from
	 * the environment: it measures the target. */
	fail = sym_curl_easy_setopt(e, CURLOPT_URL, req->url) ||
	       sym_curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
	       sym_curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ||
	       sym_curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") ||
	       sym_curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L) ||
	       sym_curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L) ||
	       sym_curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms) ||
	       sym_curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms) ||
	       sym_curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, req->tls_verify ? 1L : 0L) ||
	       sym_curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, req->tls_verify ? 2L : 0L) ||
	       (req->ca_file && sym_curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file)) ||
	       sym_curl_easy_setopt(e, CURLOPT_PROXY, "") ||
	       sym_curl_easy_setopt(e, CURLOPT_USERAGENT, "chaosd-probe") ||
	       sym_curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) ||
	       sym_curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) ||
	       sym_curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) ||
	       sym_curl_easy_setopt(e, CURLOPT_WRITEDATA, c) ||
	       sym_curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
	if (fail || sym_curl_multi_add_handle(c->multi, e) != CURLM_OK) {
		c->body = mfree(c->body);
		sym_curl_easy_cleanup(e);
		return -EINVAL;
	}
	c->easy = e;
	c->done = done;
	c->userdata = userdata;
	c->started = now_usec(CLOCK_MONOTONIC);
	return 0;
}

int http_client_load(void)
{
	return curl_dlopen();
}

const char *http_client_load_error(void)
{
	return curl_dlopen_error();
}
