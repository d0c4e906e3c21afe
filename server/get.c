/* get.c - the answers that need no body: GET and HEAD routes (health,
 * readiness, metrics, info, OpenAPI, the v2 metadata routes), 404, 405
 * and CORS preflights. */
#include <cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "mml.h"
#include "openapi.h"
#include "request.h"
#include "v2.h"

static const char METRICS_TYPE[] = "text/plain; version=0.0.4; charset=utf-8";

static enum MHD_Result respond_json(http_req *r, unsigned status, cJSON *obj)
{
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (text == NULL)
        return respond_error(r, 503, "Overloaded", NULL, "out of memory; retry later");
    return respond(r, status, text, strlen(text), JSON_TYPE, NULL);
}

/* GET /v1/info, or NULL when out of memory (no half-built answer). */
static cJSON *info_object(const http_server *s)
{
    const config *cfg = s->cfg;
    cJSON *o = cJSON_CreateObject();
    cJSON *limits = cJSON_CreateObject();
    cJSON *cors = cJSON_CreateArray();                  /* [] without CORS */
    int ok = o != NULL && limits != NULL && cors != NULL;
    ok = ok && cJSON_AddStringToObject(o, "name", "lossd") &&
         cJSON_AddStringToObject(o, "version", LOSSD_VERSION) &&
         cJSON_AddStringToObject(o, "simd", mml_simd_name(mml_simd_active())) &&
         cJSON_AddNumberToObject(o, "threads", cfg->threads) &&
         cJSON_AddNumberToObject(o, "http_threads", cfg->http_threads) &&
         cJSON_AddNumberToObject(limits, "max_body", (double)cfg->max_body) &&
         cJSON_AddNumberToObject(limits, "max_memory", (double)cfg->max_memory) &&
         cJSON_AddNumberToObject(limits, "queue_depth", cfg->queue_depth) &&
         cJSON_AddNumberToObject(limits, "timeout", cfg->timeout) &&
         cJSON_AddNumberToObject(limits, "drain_timeout", cfg->drain_timeout) &&
         cJSON_AddNumberToObject(limits, "split_elements", JOB_SPLIT_ELEMS) &&
         cJSON_AddNumberToObject(limits, "max_connections", cfg->max_connections) &&
         cJSON_AddNumberToObject(limits, "max_connections_per_ip",
                                 cfg->max_connections_per_ip) &&
         cJSON_AddNumberToObject(limits, "min_body_rate", (double)cfg->min_body_rate);
    for (unsigned i = 0; ok && i < cfg->n_cors; i++) {
        cJSON *origin = cJSON_CreateString(cfg->cors_origin[i]);
        ok = origin != NULL && cJSON_AddItemToArray(cors, origin);
        if (!ok)
            cJSON_Delete(origin);
    }
    /* Once added, limits and cors belong to o. */
    if (ok && (ok = cJSON_AddItemToObject(o, "limits", limits)) != 0)
        limits = NULL;
    if (ok && (ok = cJSON_AddItemToObject(o, "cors_origins", cors)) != 0)
        cors = NULL;
    cJSON_Delete(limits);
    cJSON_Delete(cors);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* GET routes of the Open Inference Protocol v2 (docs/wire.md). */
static enum MHD_Result serve_v2_get(http_req *r, route_id id)
{
    switch (id) {
    case ROUTE_V2_SERVER: {
        size_t len = 0;
        char *body = v2_encode_server_metadata(LOSSD_VERSION, &len);
        if (body == NULL)
            return respond_error(r, 503, "Overloaded", NULL, "out of memory; retry later");
        return respond(r, 200, body, len, JSON_TYPE, NULL);
    }
    case ROUTE_V2_LIVE:
        return respond_const(r, 200, v2_health_live());
    case ROUTE_V2_READY:
        if (http_draining())
            return respond_error(r, 503, "Overloaded", NULL, "the server is draining");
        return respond_const(r, 200, v2_health_ready());
    case ROUTE_V2_MODEL:
        return respond_const(r, 200, v2_model_metadata());
    case ROUTE_V2_CONFIG:
        return respond_const(r, 200, v2_model_config());
    default:
        return respond_error(r, 500, "InternalError", NULL, "route %d has no GET handler",
                             (int)id);
    }
}

static enum MHD_Result serve_get(http_req *r, route_id id)
{
    http_server *s = r->srv;
    switch (id) {
    case ROUTE_HEALTHZ:
        return respond_const(r, 200, "{\"status\":\"ok\"}");
    case ROUTE_READYZ:
        if (http_draining())
            return respond_const(r, 503, "{\"status\":\"draining\"}");
        return respond_const(r, 200, "{\"status\":\"ready\"}");
    case ROUTE_METRICS: {
        metrics_gauges g = {job_pool_active(s->jobs), http_inflight(),
                            payload_mem_in_use(), s->cfg->max_memory};
        size_t len = 0;
        char *text = metrics_render(s->metrics, &g, &len);
        if (text == NULL)
            return respond_error(r, 503, "Overloaded", NULL, "out of memory; retry later");
        return respond(r, 200, text, len, METRICS_TYPE, NULL);
    }
    case ROUTE_INFO:
        return respond_json(r, 200, info_object(s));
    case ROUTE_OPENAPI: {
        size_t len;
        const char *doc = openapi_json(&len);
        return respond_mem(r, 200, doc, len, MHD_RESPMEM_PERSISTENT, JSON_TYPE, NULL);
    }
    default:
        return serve_v2_get(r, id);
    }
}

enum MHD_Result get_answer(http_req *r)
{
    if (r->route_status == 404) {
        char msg[256];
        route_not_found(r->method, r->path, msg, sizeof msg);
        return respond_error_text(r, 404, "NotFound", NULL, msg, NULL);
    }
    if (r->route_status == 405 && strcmp(r->method, "OPTIONS") == 0 &&
        r->srv->cfg->n_cors > 0) {
        /* A CORS preflight (or a plain OPTIONS): what the path allows. */
        char allow[sizeof r->allow + 16];
        snprintf(allow, sizeof allow, "%s, OPTIONS", r->allow);
        r->preflight = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                   "Access-Control-Request-Method") != NULL;
        return respond_mem(r, 204, NULL, 0, MHD_RESPMEM_PERSISTENT, NULL, allow);
    }
    if (r->route_status == 405) {
        char msg[320];
        if (r->srv->cfg->n_cors > 0)                     /* OPTIONS answers preflights */
            strncat(r->allow, ", OPTIONS", sizeof r->allow - strlen(r->allow) - 1);
        snprintf(msg, sizeof msg, "%s is not allowed on %s (allowed: %s)", r->method,
                 r->path, r->allow);
        return respond_error_text(r, 405, "MethodNotAllowed", NULL, msg, r->allow);
    }
    return serve_get(r, route_table[r->route].id);
}
