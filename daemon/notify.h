/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Messages to the service manager that change with every request (STATUS=). */
void notify_send(const char *text);
void notify_close(void);
