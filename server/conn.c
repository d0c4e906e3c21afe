/* conn.c - what the parts of the HTTP front end ask of a request, its
 * connection and the process: request headers, the connection's deadline
 * entry, waking the loop after a resume, and the process-wide counts of
 * requests in flight and whether a drain has begun. http.c, which drives
 * the rest, is the only file that changes these counts. */
#include <stdatomic.h>

#include "payload.h"
#include "request.h"

/* Process-wide, shared by every server (front-end loop): the requests in
 * flight, and whether a drain has begun (http_server_drain on any server
 * makes them all answer as draining at once). */
static atomic_uint inflight;
static atomic_int draining;

/* Requests begun since the memory was last given back (http_idle_sweep). */
static atomic_uint begun;

int http_draining(void)
{
    return atomic_load_explicit(&draining, memory_order_relaxed);
}

void http_drain_all(void)
{
    atomic_store(&draining, 1);
}

unsigned http_inflight(void)
{
    return atomic_load(&inflight);
}

void http_request_begins(void)
{
    atomic_fetch_add(&inflight, 1);
    atomic_fetch_add(&begun, 1);
}

void http_request_ends(void)
{
    atomic_fetch_sub(&inflight, 1);
}

void http_idle_sweep(void)
{
    static atomic_uint seen = 1;
    unsigned now = atomic_load(&begun);
    if (atomic_exchange(&seen, now) == now && atomic_load(&inflight) == 0 && now != 0) {
        atomic_store(&begun, 0);
        atomic_store(&seen, 0);
        payload_mem_idle();
    }
}

conn_deadline *http_conn_deadline(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

const char *http_header(const http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void http_server_kick(http_server *s)
{
    uv_timer_start(&s->timer, s->on_timer, 0, 0);
}
