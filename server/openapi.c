/* openapi.c - docs/openapi.json, embedded in the binary at build time for GET /openapi.json.
 *
 * The container has the binary and no repository, so the document is
 * pulled in by the assembler (.incbin, path relative to the repository
 * root where make runs the compiler). The Makefile lists docs/openapi.json
 * as a prerequisite of this object, so editing the document rebuilds it. */
#include "openapi.h"

__asm__(".pushsection .rodata\n"
        ".balign 8\n"
        "lossd_openapi_start:\n"
        ".incbin \"docs/openapi.json\"\n"
        "lossd_openapi_end:\n"
        ".byte 0\n"
        ".popsection\n");

/* Symbols local to this object: referred to through the asm labels. */
extern const char openapi_start[] __asm__("lossd_openapi_start");
extern const char openapi_end[] __asm__("lossd_openapi_end");

const char *openapi_json(size_t *len)
{
    *len = (size_t)(openapi_end - openapi_start);
    return openapi_start;
}
