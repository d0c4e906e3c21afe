/* v2_text.h - internal to v2.c: the v2 JSON request read with the JSON
 * lexer (json_lex.h) into a small tree, its tensor "data" arrays left in
 * the text and read from there into the tensor buffers.
 *
 * A tree node takes 32 bytes, up to 16 times its text ("0,"), so a request
 * whose tensors travel as JSON would cost gigabytes at the body limit. The
 * data array of every element of the root's "inputs" is therefore only
 * checked and recorded as a span of the text; once the shapes are known,
 * its elements are read from the text straight into the tensor. */
#ifndef LOSSD_V2_TEXT_H
#define LOSSD_V2_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mml.h"

/* Nesting deeper than this is refused (a tensor's data needs its rank). */
#define V2_TEXT_MAX_DEPTH 64

/* A data array's text: s[off, off + len), brackets included. */
typedef struct v2_span {
    size_t off, len;
} v2_span;

enum v2_kind { V2_NULL, V2_FALSE, V2_TRUE, V2_NUMBER, V2_STRING, V2_ARRAY, V2_OBJECT };

/* One JSON value. Members of an object keep their order, duplicates too. */
typedef struct v2_node {
    const char *key;            /* a member's name (NUL-terminated); NULL in arrays */
    struct v2_node *next;       /* the next element or member */
    union {
        struct v2_node *child;  /* V2_ARRAY, V2_OBJECT: the first element or member */
        double num;             /* V2_NUMBER: the nearest double */
        const char *str;        /* V2_STRING: NUL-terminated (\u0000 is refused) */
        const v2_span *span;    /* V2_ARRAY with in_text: where its elements are */
    };
    unsigned char kind;         /* enum v2_kind */
    bool is_int;                /* V2_NUMBER: written without fraction or exponent */
    bool in_text;               /* V2_ARRAY: a data array left in the text */
} v2_node;

/* A parsed request: the root and the blocks its nodes and strings live in. */
typedef struct v2_tree {
    v2_node *root;
    struct v2_block *blocks;
} v2_tree;

/* Read s[0..n) as one JSON value (RFC 8259) and whitespace into *tree
 * (free it with v2_text_free). Inside the inputs' data arrays the bare
 * NaN, Infinity, -Infinity, Inf and -Inf that Python's json module and
 * Triton write are numbers too. Those arrays (under the keys "inputs" and
 * "data" written without escapes) are V2_ARRAY nodes with in_text set.
 * Returns 0; MML_EBADREQ naming the first byte that is wrong (strings
 * must be UTF-8, and hold no \u0000); MML_ETOOBIG when the text without
 * its data arrays (each counted as "[]") is over max_tree bytes, found
 * after the whole text is checked; or MML_ENOMEM. *tree is empty on
 * failure. trailing, when not NULL, is added to the message for bytes
 * after the JSON value: what the caller knows of why they may be there. */
int v2_text_parse(const char *s, size_t n, const char *trailing, uint64_t max_tree,
                  v2_tree *tree, mml_error *err);

/* Free what the tree holds and empty it. NULL is a no-op. */
void v2_text_free(v2_tree *tree);

/* Where the elements of one data array go: count values of dtype (an
 * MML dtype, or 0 for int64 targets) in buf; name and field name the
 * tensor in messages. */
typedef struct v2_sink {
    const char *name, *field;
    int dtype;
    void *buf;
    uint64_t count;
} v2_sink;

/* Store the elements of the data array at s[sp->off ..] (nested arrays
 * are read in order, as one flat list) into out->buf, at most
 * out->count of them, and set *seen to how many there are. A float
 * element is a number, one of the bare non-finite names above, or the
 * string "NaN", "Infinity" or "-Infinity"; a target element an integer
 * literal in int64 range. 0, or MML_ETYPE naming the element. The span
 * must come from v2_text_parse() on the same text. */
int v2_text_read(const char *s, const v2_span *sp, const v2_sink *out, uint64_t *seen,
                 mml_error *err);

#endif
