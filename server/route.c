/* route.c - the routing table: path and method to a route, Content-Type to a decoder. */
#include "route.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "json.h"

/* Media types of the native scoring API (SPEC 3.1, 4). */
static const route_media score_media[] = {
    {"application/json", &json_decoder_ops},
    {NULL, NULL}
};

#define GET_HEAD (ROUTE_GET | ROUTE_HEAD)

const route route_table[] = {
    {"/v1/multi_margin_loss", ROUTE_POST, ROUTE_SCORE, "score", score_media},
    {"/healthz", GET_HEAD, ROUTE_HEALTHZ, "healthz", NULL},
    {"/readyz", GET_HEAD, ROUTE_READYZ, "readyz", NULL},
    {"/metrics", GET_HEAD, ROUTE_METRICS, "metrics", NULL},
    {"/v1/info", GET_HEAD, ROUTE_INFO, "info", NULL},
};

const size_t route_count = sizeof route_table / sizeof route_table[0];

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
        return -1;
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
    size_t len = strcspn(s, ";");
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0)
        return r->media[0].ops;
    for (const route_media *m = r->media; m->type != NULL; m++)
        if (strlen(m->type) == len && strncasecmp(m->type, s, len) == 0)
            return m->ops;
    return NULL;
}
