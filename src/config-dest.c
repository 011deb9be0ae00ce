/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config-dest.h"
#include "macro.h"
#include "parse.h"
#include "utf8.h"

#define HOSTNAME_MAX 253

static void dest_error(const struct config_dest_ctx *ctx, const char *value, const char *fmt, ...)
		_printf_(3, 4);
static void dest_error(const struct config_dest_ctx *ctx, const char *value, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->error(ctx->userdata, value, msg);
}

static bool hostname_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > HOSTNAME_MAX || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!parse_ascii_alnum(s[i]) && !strchr("-._", s[i]))
			return false;
	return true;
}

/* An item that can only be meant as an address: digits and dots, or anything with ':' or
 * '/'. Everything else is a host name. */
static bool looks_like_address(const char *s)
{
	return strchr(s, ':') || strchr(s, '/') || strspn(s, "0123456789.") == strlen(s);
}

static int edge_add_prefix(const struct config_dest_ctx *ctx, struct edge *e,
		const struct edge_prefix *pfx, const char *value)
{
	for (unsigned i = 0; i < e->n_prefixes; i++)
		if (e->prefixes[i].family == pfx->family && e->prefixes[i].len == pfx->len &&
				memcmp(e->prefixes[i].addr, pfx->addr, sizeof(pfx->addr)) == 0)
			return 0; /* the same address twice, e.g. a name and its address */
	if (e->n_prefixes >= EDGE_PREFIX_MAX) {
		dest_error(ctx, value,
				"more than %d prefixes (allowed: at most %d per "
				"edge)", EDGE_PREFIX_MAX,
				EDGE_PREFIX_MAX);
		return -E2BIG;
	}
	e->prefixes[e->n_prefixes++] = *pfx;
	return 0;
}

/* The network address of a prefix with host bits set, for the hint in the message. */
static bool prefix_masked(const char *item, char *buf, size_t n)
{
	const char *slash = strchr(item, '/');
	struct edge_prefix pfx;
	unsigned len, total;
	char *end;
	unsigned long l;

	if (!slash || edge_addr_parse(item, (size_t)(slash - item), &pfx) < 0)
		return false;
	total = pfx.family == AF_INET ? 32 : 128;
	if (!isdigit((unsigned char)slash[1]))
		return false;
	l = strtoul(slash + 1, &end, 10);
	if (*end || l > total)
		return false;
	len = (unsigned)l;
	for (unsigned i = len; i < total; i++)
		pfx.addr[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
	pfx.len = (uint8_t)len;
	edge_prefix_format(&pfx, buf, n);
	return true;
}

static int resolve_with(const struct config_dest_ctx *ctx, struct edge *e, const char *item,
		const char *value)
{
	struct edge_prefix pfx[EDGE_PREFIX_MAX];
	const char *why = "";
	unsigned n = 0;
	char it[80];
	int r;

	r = ctx->resolver->resolve(ctx->resolver->userdata, item, pfx, ELEMENTSOF(pfx), &n, &why);
	if (r == -EAGAIN) {
		(*ctx->pending)++;
		return 0;
	}
	if (r < 0 || n == 0) {
		dest_error(ctx, value,
				"'%s' does not resolve: %s (allowed: a host name with an A or AAAA "
				"record, or a CIDR prefix)",
				utf8_ascii_safe(item, it, sizeof(it)),
				r < 0 ? why : "no IPv4 or IPv6 address");
		return r < 0 ? r : -ENOENT;
	}
	for (unsigned i = 0; i < n; i++) {
		r = edge_add_prefix(ctx, e, &pfx[i], value);
		if (r < 0)
			return r;
	}
	return 0;
}

static int resolve_name(const struct config_dest_ctx *ctx, struct edge *e, const char *item,
		const char *value)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char it[80];
	unsigned added = 0;
	int r;

	if (ctx->resolver)
		return resolve_with(ctx, e, item, value);
	r = getaddrinfo(item, NULL, &hints, &res);
	if (r != 0) {
		dest_error(ctx, value,
				"'%s' does not resolve: %s (allowed: a host name with an A or AAAA "
				"record, or a CIDR prefix)",
				utf8_ascii_safe(item, it, sizeof(it)),
				r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -ENOENT;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		struct edge_prefix pfx = { .family = ai->ai_family };

		if (ai->ai_family == AF_INET) {
			memcpy(pfx.addr, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
			pfx.len = 32;
		} else if (ai->ai_family == AF_INET6) {
			memcpy(pfx.addr, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
			pfx.len = 128;
		} else
			continue;
		r = edge_add_prefix(ctx, e, &pfx, value);
		if (r < 0) {
			freeaddrinfo(res);
			return r;
		}
		added++;
	}
	freeaddrinfo(res);
	if (added == 0) {
		dest_error(ctx, value,
				"'%s' resolves to no IPv4 or IPv6 address (allowed: a host name "
				"with an A or AAAA record, or a CIDR prefix)",
				utf8_ascii_safe(item, it, sizeof(it)));
		return -ENOENT;
	}
	return 0;
}

/* One line's worth of "a, b, c"; empty items (a trailing comma before a continuation line)
 * are skipped. Every bad item is reported. */
int config_dest_parse(const struct config_dest_ctx *ctx, struct edge *e, const char *value)
{
	_cleanup_free_ char *copy = strdup(value);
	char *item, *save = NULL;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		struct edge_prefix pfx;
		char it[80], hint[INET6_ADDRSTRLEN + 8];
		int r;

		parse_strip(item);
		if (!*item)
			continue;
		utf8_ascii_safe(item, it, sizeof(it));
		if (looks_like_address(item)) {
			if (edge_prefix_parse(item, &pfx) < 0) {
				if (prefix_masked(item, hint, sizeof(hint)))
					dest_error(ctx, value,
							"'%s' has host bits set (allowed: the "
							"network address, %s)",
							it, hint);
				else
					dest_error(ctx, value,
							"'%s' is not a prefix (allowed: CIDR "
							"prefixes like 10.0.5.0/24 or fd00::/64, "
							"addresses, host names)",
							it);
				ret = -EINVAL;
				continue;
			}
			r = edge_add_prefix(ctx, e, &pfx, value);
			if (r < 0)
				return r;
			continue;
		}
		if (!hostname_valid(item)) {
			dest_error(ctx, value,
					"'%s' is neither a prefix nor a host name (allowed: CIDR "
					"prefixes like 10.0.5.0/24 or fd00::/64, addresses, host "
					"names)",
					it);
			ret = -EINVAL;
			continue;
		}
		if (!ctx->resolve) {
			dest_error(ctx, value,
					"'%s' is a host name, and names are not resolved here "
					"(allowed: CIDR prefixes and addresses)",
					it);
			ret = -EINVAL;
			continue;
		}
		r = resolve_name(ctx, e, item, value);
		if (r == -E2BIG)
			return r;
		if (r < 0)
			ret = r;
	}
	return ret;
}
