/* openapi.h - docs/openapi.json, embedded in the binary at build time for GET /openapi.json. */
#ifndef LOSSD_OPENAPI_H
#define LOSSD_OPENAPI_H

#include <stddef.h>

/* The OpenAPI document describing every route of route_table: a constant
 * buffer of *len bytes, not NUL-terminated, never freed. */
const char *openapi_json(size_t *len);

#endif
