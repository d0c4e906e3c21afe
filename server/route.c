/* route.c - the routing table: path and method to a route, Content-Type to a decoder. */
#include "route.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "frame.h"
#include "hlist.h"
#include "json.h"
#include "v2.h"

/* Media types of the native scoring API: JSON and the MML1 frame. */
static const route_media score_media[] = {
    {"application/json", &json_decoder_ops},
    {"application/octet-stream", &frame_decoder_ops},
    {NULL, NULL}
};

/* Infer takes any Content-Type: tritonclient sends none, curl users send
 * application/json. */
static const route_media infer_media[] = {
    {"*/*", &v2_decoder_ops},
    {NULL, NULL}
};

#define GET_HEAD (ROUTE_GET | ROUTE_HEAD)

const route route_table[] = {
    {"/v1/multi_margin_loss", ROUTE_POST, ROUTE_SCORE, "score", score_media},
    {"/healthz", GET_HEAD, ROUTE_HEALTHZ, "healthz", NULL},
    {"/readyz", GET_HEAD, ROUTE_READYZ, "readyz", NULL},
    {"/metrics", GET_HEAD, ROUTE_METRICS, "metrics", NULL},
    {"/v1/info", GET_HEAD, ROUTE_INFO, "info", NULL},
    {"/openapi.json", GET_HEAD, ROUTE_OPENAPI, "openapi", NULL},
    /* Open Inference Protocol v2. */
    {"/v2", GET_HEAD, ROUTE_V2_SERVER, "v2_server", NULL},
    {"/v2/health/live", GET_HEAD, ROUTE_V2_LIVE, "v2_live", NULL},
    {"/v2/health/ready", GET_HEAD, ROUTE_V2_READY, "v2_ready", NULL},
    {"/v2/models/multi_margin_loss", GET_HEAD, ROUTE_V2_MODEL, "v2_model", NULL},
    {"/v2/models/multi_margin_loss/versions/1", GET_HEAD, ROUTE_V2_MODEL,
     "v2_model_version", NULL},
    {"/v2/models/multi_margin_loss/config", GET_HEAD, ROUTE_V2_CONFIG, "v2_model_config", NULL},
    {"/v2/models/multi_margin_loss/versions/1/config", GET_HEAD, ROUTE_V2_CONFIG,
     "v2_model_version_config", NULL},
    {"/v2/models/multi_margin_loss/ready", GET_HEAD, ROUTE_V2_READY, "v2_model_ready", NULL},
    {"/v2/models/multi_margin_loss/versions/1/ready", GET_HEAD, ROUTE_V2_READY,
     "v2_model_version_ready", NULL},
    {"/v2/models/multi_margin_loss/infer", ROUTE_POST, ROUTE_V2_INFER, "v2_infer", infer_media},
    {"/v2/models/multi_margin_loss/versions/1/infer", ROUTE_POST, ROUTE_V2_INFER,
     "v2_infer_version", infer_media},
};

const size_t route_count = sizeof route_table / sizeof route_table[0];

int route_is_v2(const char *path)
{
    return strncmp(path, "/v2", 3) == 0 && (path[3] == '\0' || path[3] == '/');
}

/* Length of the media type at s, without blanks and parameters. */
static size_t media_len(const char *s, const char *stop)
{
    size_t len = strcspn(s, stop);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return len;
}

void route_not_found(const char *method, const char *path, char *msg, size_t size)
{
    static const char model[] = "/v2/models/" V2_MODEL_NAME "/";
    static const char version[] = "/v2/models/" V2_MODEL_NAME "/versions/" V2_MODEL_VERSION "/";
    if (strncmp(path, version, sizeof version - 1) == 0 ||
        (strncmp(path, model, sizeof model - 1) == 0 &&
         strncmp(path + sizeof model - 1, "versions/", 9) != 0))
        snprintf(msg, size, "no route for %s %s: the model has GET (metadata), GET "
                 ".../ready, GET .../config and POST .../infer", method, path);
    else if (strncmp(path, "/v2/models/", 11) == 0)
        snprintf(msg, size, "unknown model or version in %s %s: this server has model "
                 V2_MODEL_NAME " version " V2_MODEL_VERSION, method, path);
    else
        snprintf(msg, size, "no route for %s %s", method, path);
}

unsigned route_method_bit(const char *method)
{
    if (strcmp(method, "GET") == 0)
        return ROUTE_GET;
    if (strcmp(method, "HEAD") == 0)
        return ROUTE_HEAD;
    if (strcmp(method, "POST") == 0)
        return ROUTE_POST;
    return 0;
}

static void format_allow(unsigned methods, char *allow, size_t allow_len)
{
    static const struct { unsigned bit; const char *name; } names[] = {
        {ROUTE_GET, "GET"}, {ROUTE_HEAD, "HEAD"}, {ROUTE_POST, "POST"}};
    size_t used = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(methods & names[i].bit) || used >= allow_len)
            continue;
        int n = snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "",
                         names[i].name);
        if (n > 0)
            used += (size_t)n;
    }
}

int route_match(const char *method, const char *path, int *status,
                char *allow, size_t allow_len)
{
    unsigned bit = route_method_bit(method);
    for (size_t i = 0; i < route_count; i++) {
        if (strcmp(route_table[i].path, path) != 0)
            continue;
        if (bit & route_table[i].methods) {
            *status = 200;
            return (int)i;
        }
        *status = 405;
        format_allow(route_table[i].methods, allow, allow_len);
        return (int)i;
    }
    *status = 404;
    return -1;
}

const decoder_ops *route_decoder(const route *r, const char *content_type)
{
    if (r->media == NULL)
        return NULL;
    if (content_type == NULL)
        return r->media[0].ops;
    const char *s = content_type + strspn(content_type, " \t");
    size_t len = media_len(s, ";");
    if (len == 0)
        return r->media[0].ops;
    for (const route_media *m = r->media; m->type != NULL; m++)
        if (strcmp(m->type, "*/*") == 0 ||
            (strlen(m->type) == len && strncasecmp(m->type, s, len) == 0))
            return m->ops;
    return NULL;
}
