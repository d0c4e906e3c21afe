/* route.h - the routing table: path and method to a route, Content-Type to a decoder. */
#ifndef LOSSD_ROUTE_H
#define LOSSD_ROUTE_H

#include <stddef.h>

#include "decoder.h"

/* Method bits of a route. */
enum {
    ROUTE_GET = 1,
    ROUTE_HEAD = 2,
    ROUTE_POST = 4
};

/* What http.c does for a matched route. New wire formats add an id here
 * and a row in route_table. */
typedef enum route_id {
    ROUTE_SCORE = 0,      /* POST /v1/multi_margin_loss */
    ROUTE_HEALTHZ,
    ROUTE_READYZ,
    ROUTE_METRICS,
    ROUTE_INFO,
    ROUTE_OPENAPI,        /* GET /openapi.json */
    ROUTE_V2_SERVER,      /* GET /v2: server metadata */
    ROUTE_V2_LIVE,
    ROUTE_V2_READY,       /* server and model readiness */
    ROUTE_V2_MODEL,       /* model metadata */
    ROUTE_V2_CONFIG,      /* Triton's model configuration */
    ROUTE_V2_INFER        /* POST .../infer: any Content-Type, v2 decoder */
} route_id;

/* A media type a POST route accepts and the decoder for it. */
typedef struct route_media {
    const char *type;               /* lower case, no parameters; a full
                                       wildcard range matches any type */
    const decoder_ops *ops;
} route_media;

typedef struct route {
    const char *path;               /* exact match, no query string */
    unsigned methods;               /* ROUTE_* bits */
    route_id id;
    const char *name;               /* metrics label, unique */
    /* POST routes: accepted media types, NULL-terminated; the first one
     * also serves requests without a Content-Type. */
    const route_media *media;
} route;

extern const route route_table[];
extern const size_t route_count;

/* 1 when errors on path take the v2 shape {"error": "..."} (docs/wire.md, "Errors"):
 * "/v2" and everything under "/v2/", known route or not. */
int route_is_v2(const char *path);

/* The message of a 404 for method and path into msg (size bytes): on
 * /v2/models/ it says whether the model or version is unknown or the
 * route under the model, and what the model has. */
void route_not_found(const char *method, const char *path, char *msg, size_t size);

/* ROUTE_GET etc. for a method name, 0 for any other method. */
unsigned route_method_bit(const char *method);

/* Find the route for method and path. Returns its index in route_table
 * and *status 200; the index and 405 when the path is known but not the
 * method (allow gets the Allow header value, e.g. "GET, HEAD"; metrics
 * count the 405 under the route); or -1 and 404 (no such path). */
int route_match(const char *method, const char *path, int *status,
                char *allow, size_t allow_len);

/* The decoder for a request's Content-Type on route r: the media type is
 * compared case-insensitively without its parameters ("application/json;
 * charset=utf-8" is JSON). A missing or empty Content-Type means the
 * route's first media type, so hand-written requests (printf | nc, some
 * HTTP libraries) work; curl -d sends x-www-form-urlencoded, which is
 * refused like any other type. NULL when the type is not accepted (415). */
const decoder_ops *route_decoder(const route *r, const char *content_type);

#endif
