/* v2.c - Open Inference Protocol v2 infer decoder and response encoders with binary tensor data. */
#include "v2.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "utf8.h"
#include "v2_text.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define V2_HOST_BE 1
#else
#define V2_HOST_BE 0
#endif

enum { T_INPUT, T_TARGET, T_WEIGHT, T_COUNT };
static const char *const tensor_name[T_COUNT] = {"INPUT", "TARGET", "WEIGHT"};
static const char *const tensor_field[T_COUNT] = {"input", "target", "weight"};

/* One input tensor as the JSON header describes it. */
typedef struct tensor {
    int present;
    int pos;                  /* index in "inputs": binary data comes in this order */
    const char *datatype;     /* as sent; valid while the tree lives */
    int dtype;                /* mml code for INPUT/WEIGHT, 0 if unsupported */
    int rank;
    uint64_t dim[2];          /* first two dimensions */
    uint64_t count;           /* product of the shape */
    uint64_t bytes;           /* count * element size */
    int64_t binary_size;      /* binary_data_size, -1 when data is JSON */
    const v2_node *data;
    uint8_t *buf;             /* owned until finish() moves it out */
    payload_fill fill;        /* binary data: buf, charged as it arrives */
} tensor;

typedef struct v2_decoder v2_decoder;

struct v2_decoder {
    decoder super;            /* first: the interface (decoder.h) */
    uint64_t max_body;
    int64_t header_len;       /* -1: the whole body is JSON */
    char *json;
    size_t json_len, json_cap;  /* json_cap bytes are charged to acct */
    payload_acct acct;        /* the JSON text and the tensors in the memory budget */
    int parsed;               /* JSON header parsed; binary phase */
    tensor t[T_COUNT];
    int order[T_COUNT];       /* binary tensors in body order */
    int nbin, cur;
    uint64_t cur_off, bin_total, bin_got;
    int64_t p, margin;
    int reduction;
    char *id;
    int binary_output;
    int failed;               /* sticky failure, replayed */
    mml_error error;
};

/* ---- small helpers ---------------------------------------------------- */

static bool is_kind(const v2_node *v, int kind)
{
    return v != NULL && v->kind == kind;
}

static bool is_bool(const v2_node *v)
{
    return is_kind(v, V2_TRUE) || is_kind(v, V2_FALSE);
}

/* What v is, for messages; "a number" for NULL too (an absent name). */
static const char *json_kind(const v2_node *v)
{
    if (is_kind(v, V2_STRING))
        return "a string";
    if (is_bool(v))
        return "a boolean";
    if (is_kind(v, V2_NULL))
        return "null";
    if (is_kind(v, V2_ARRAY))
        return "an array";
    if (is_kind(v, V2_OBJECT))
        return "an object";
    return "a number";
}

static const char *triton_dtype(int dtype)
{
    return dtype == MML_F16 ? "FP16" : dtype == MML_F32 ? "FP32" : dtype == MML_F64 ? "FP64" : NULL;
}

static int dtype_from_triton(const char *s)
{
    return strcmp(s, "FP16") == 0 ? MML_F16 : strcmp(s, "FP32") == 0 ? MML_F32
         : strcmp(s, "FP64") == 0 ? MML_F64 : 0;
}


static int count_children(const v2_node *v)
{
    int n = 0;
    for (v = v->child; v != NULL; v = v->next)
        n++;
    return n;
}

/* A string from the request as a message may show it (text_printable). */
#define SHOWN 40
static const char *shown(const char *s, char out[SHOWN])
{
    return text_printable(s, strlen(s), out, SHOWN);
}

/* An integer-valued double as int64, saturating so range checks fail. */
static int64_t to_int64(double x)
{
    if (x >= 9223372036854775807.0)
        return INT64_MAX;
    if (x <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)x;
}

/* ---- request parameters ---------------------------------------------- */

static int param_int(const v2_node *v, const char *name,
                     int64_t *out, mml_error *err)
{
    if (!is_kind(v, V2_NUMBER))
        return mml_error_set(err, MML_ETYPE, name, "parameter %s must be an integer, got %s",
                             name, json_kind(v));
    /* 1.0 and 1e0 are the double 1: say what was wrong rather than
     * echo a value that reads like a valid one. */
    if (!v->is_int)
        return mml_error_set(err, MML_ETYPE, name,
                             "parameter %s must be an integer, got a number with a fraction "
                             "or an exponent", name);
    if (!(fabs(v->num) < 9223372036854775808.0))
        return mml_error_set(err, MML_EVALUE, name,
                             "parameter %s is out of range (p must be 1 or 2, margin must fit "
                             "in a signed 32-bit integer)", name);
    *out = to_int64(v->num);
    return 0;
}

static int parse_parameters(v2_decoder *d, const v2_node *params,
                            mml_error *err)
{
    unsigned seen = 0;
    int rc = 0;
    if (!is_kind(params, V2_OBJECT))
        return mml_error_set(err, MML_ETYPE, "parameters",
                             "parameters must be an object, got %s", json_kind(params));
    for (const v2_node *v = params->child; v != NULL && rc == 0; v = v->next) {
        static const char *const known[] = {"p", "margin", "reduction",
                                            "binary_data_output", "priority", "timeout"};
        unsigned k = 0;
        while (k < 6 && strcmp(v->key, known[k]) != 0)
            k++;
        char text[SHOWN];
        if (k == 6)
            return mml_error_set(err, MML_EVALUE, v->key,
                                 "unknown parameter \"%s\" (expected p, margin, reduction, binary_data_output)",
                                 shown(v->key, text));
        if (seen & (1u << k))
            return mml_error_set(err, MML_EVALUE, v->key, "parameter %s appears twice",
                                 known[k]);
        seen |= 1u << k;
        if (k == 0)
            rc = param_int(v, "p", &d->p, err);
        else if (k == 1)
            rc = param_int(v, "margin", &d->margin, err);
        else if (k == 2) {
            if (!is_kind(v, V2_STRING))
                return mml_error_set(err, MML_ETYPE, "reduction",
                                     "parameter reduction must be a string, got %s", json_kind(v));
            d->reduction = mml_reduction_from_name(v->str);
            if (d->reduction < 0) {
                char text[SHOWN];
                return mml_error_set(err, MML_EVALUE, "reduction",
                                     "parameter reduction must be one of none, mean, sum, got \"%s\"",
                                     shown(v->str, text));
            }
        } else if (k == 3) {
            if (!is_bool(v))
                return mml_error_set(err, MML_ETYPE, "binary_data_output",
                                     "parameter binary_data_output must be a boolean, got %s",
                                     json_kind(v));
            d->binary_output = is_kind(v, V2_TRUE);
        }
    }
    return rc;
}

/* "outputs": [{"name": "LOSS", "parameters": {"binary_data": bool}}]. */
static int parse_outputs(v2_decoder *d, const v2_node *outputs, int *binary, mml_error *err)
{
    int seen = 0;
    if (!is_kind(outputs, V2_ARRAY))
        return mml_error_set(err, MML_ETYPE, "outputs", "outputs must be an array, got %s",
                             json_kind(outputs));
    for (const v2_node *o = outputs->child; o != NULL; o = o->next) {
        const v2_node *name = NULL, *params = NULL;
        if (!is_kind(o, V2_OBJECT))
            return mml_error_set(err, MML_ETYPE, "outputs", "each output must be an object, got %s",
                                 json_kind(o));
        for (const v2_node *v = o->child; v != NULL; v = v->next) {
            const v2_node **slot = strcmp(v->key, "name") == 0 ? &name
                               : strcmp(v->key, "parameters") == 0 ? &params : NULL;
            char text[SHOWN];
            if (slot == NULL || *slot != NULL)
                return mml_error_set(err, MML_EVALUE, "outputs", "%s key \"%s\" in an output",
                                     slot == NULL ? "unknown" : "duplicate", shown(v->key, text));
            *slot = v;
        }
        char text[SHOWN];
        if (!is_kind(name, V2_STRING) || strcmp(name->str, "LOSS") != 0)
            return mml_error_set(err, MML_EVALUE, "outputs",
                                 "unknown output %s%s%s (the only output is LOSS)",
                                 is_kind(name, V2_STRING) ? "\"" : "",
                                 is_kind(name, V2_STRING) ? shown(name->str, text)
                                                      : json_kind(name),
                                 is_kind(name, V2_STRING) ? "\"" : "");
        if (seen++)
            return mml_error_set(err, MML_EVALUE, "outputs", "output LOSS is requested twice");
        if (params == NULL)
            continue;
        if (!is_kind(params, V2_OBJECT))
            return mml_error_set(err, MML_ETYPE, "outputs", "output parameters must be an object");
        for (const v2_node *v = params->child; v != NULL; v = v->next) {
            if (strcmp(v->key, "binary_data") != 0)
                return mml_error_set(err, MML_EBADREQ, "outputs",
                                     "output parameter \"%s\" is not supported",
                                     shown(v->key, text));
            if (!is_bool(v))
                return mml_error_set(err, MML_ETYPE, "outputs",
                                     "output parameter binary_data must be a boolean, got %s",
                                     json_kind(v));
            *binary = is_kind(v, V2_TRUE);
        }
    }
    (void)d;
    return 0;
}

/* ---- input tensors ---------------------------------------------------- */

static int parse_shape(tensor *t, const char *name, const v2_node *shape,
                       mml_error *err)
{
    int i = 0;
    if (!is_kind(shape, V2_ARRAY))
        return mml_error_set(err, MML_ETYPE, "shape", "%s shape must be an array, got %s",
                             name, json_kind(shape));
    /* No tensor here has more than two dimensions: a longer shape is a
     * rank error (mml_validate), found without reading its numbers. */
    t->rank = count_children(shape);
    if (t->rank > 2)
        return 0;
    t->count = 1;
    for (const v2_node *v = shape->child; v != NULL; v = v->next, i++) {
        double x = is_kind(v, V2_NUMBER) ? v->num : -1;
        if (!(x >= 0) || x != floor(x) || x >= 18446744073709551616.0 ||
            !v->is_int)     /* 2.0 or 2e0 is no dimension */
            return mml_error_set(err, MML_EVALUE, "shape",
                                 "%s shape[%d] must be a non-negative integer", name, i);
        uint64_t dim = (uint64_t)x;
        if (i < 2)
            t->dim[i] = dim;
        if (__builtin_mul_overflow(t->count, dim, &t->count))
            return mml_error_set(err, MML_ETOOBIG, "shape", "%s shape is too large", name);
    }
    return 0;
}

static int parse_binary_size(tensor *t, const char *name,
                             const v2_node *params, mml_error *err)
{
    if (!is_kind(params, V2_OBJECT))
        return mml_error_set(err, MML_ETYPE, "parameters",
                             "%s parameters must be an object, got %s", name, json_kind(params));
    for (const v2_node *v = params->child; v != NULL; v = v->next) {
        if (strncmp(v->key, "shared_memory_", 14) == 0)
            return mml_error_set(err, MML_EBADREQ, "parameters",
                                 "%s: shared memory is not supported, send the data in the body",
                                 name);
        if (strcmp(v->key, "binary_data_size") != 0)
            continue;   /* tensor parameters of other extensions are ignored */
        double x = is_kind(v, V2_NUMBER) ? v->num : -1;
        if (!(x >= 0) || x != floor(x) || x >= 9.2e18 ||
            !v->is_int)     /* as a shape: 32.0 is no size */
            return mml_error_set(err, MML_EBADREQ, "parameters",
                                 "%s binary_data_size must be a non-negative integer", name);
        t->binary_size = (int64_t)x;
    }
    return 0;
}

/* One element of "inputs": fill d->t[] after checking names and keys. */
static int parse_input(v2_decoder *d, const v2_node *obj, int pos,
                       mml_error *err)
{
    const v2_node *name = NULL, *datatype = NULL, *shape = NULL, *params = NULL, *data = NULL;
    if (!is_kind(obj, V2_OBJECT))
        return mml_error_set(err, MML_ETYPE, "inputs", "inputs[%d] must be an object, got %s",
                             pos, json_kind(obj));
    for (const v2_node *v = obj->child; v != NULL; v = v->next) {
        const v2_node **slot = strcmp(v->key, "name") == 0 ? &name
                           : strcmp(v->key, "datatype") == 0 ? &datatype
                           : strcmp(v->key, "shape") == 0 ? &shape
                           : strcmp(v->key, "parameters") == 0 ? &params
                           : strcmp(v->key, "data") == 0 ? &data : NULL;
        char text[SHOWN];
        if (slot == NULL || *slot != NULL)
            return mml_error_set(err, MML_EVALUE, "inputs", "%s key \"%s\" in inputs[%d]",
                                 slot == NULL ? "unknown" : "duplicate", shown(v->key, text),
                                 pos);
        *slot = v;
    }
    if (!is_kind(name, V2_STRING))
        return mml_error_set(err, MML_ETYPE, "inputs", "inputs[%d] needs a string name", pos);
    int k = 0;
    while (k < T_COUNT && strcmp(name->str, tensor_name[k]) != 0)
        k++;
    char text[SHOWN];
    if (k == T_COUNT)
        return mml_error_set(err, MML_EVALUE, "inputs",
                             "unknown input \"%s\" (expected INPUT, TARGET or WEIGHT)",
                             shown(name->str, text));
    tensor *t = &d->t[k];
    if (t->present)
        return mml_error_set(err, MML_EVALUE, tensor_field[k], "input %s appears twice",
                             tensor_name[k]);
    t->present = 1;
    t->pos = pos;
    t->binary_size = -1;
    if (!is_kind(datatype, V2_STRING))
        return mml_error_set(err, MML_ETYPE, tensor_field[k], "%s needs a string datatype",
                             tensor_name[k]);
    t->datatype = datatype->str;
    t->dtype = dtype_from_triton(t->datatype);
    if (shape == NULL)
        return mml_error_set(err, MML_EVALUE, tensor_field[k], "%s needs a shape", tensor_name[k]);
    int rc = parse_shape(t, tensor_name[k], shape, err);
    if (rc == 0 && params != NULL)
        rc = parse_binary_size(t, tensor_name[k], params, err);
    t->data = data;
    return rc;
}

/* Datatypes first (TypeErrors), then the core's checks of shapes and
 * parameter values, as mml_validate() orders them. */
static int check_tensors(v2_decoder *d, mml_error *err)
{
    tensor *in = &d->t[T_INPUT], *tg = &d->t[T_TARGET], *w = &d->t[T_WEIGHT];
    char a[SHOWN], b[SHOWN];
    for (int k = T_INPUT; k <= T_TARGET; k++)
        if (!d->t[k].present)
            return mml_error_set(err, MML_EVALUE, tensor_field[k], "missing input %s",
                                 tensor_name[k]);
    if (in->dtype == 0)
        return mml_error_set(err, MML_ETYPE, "input",
                             "INPUT datatype must be FP16, FP32 or FP64, got %s",
                             shown(in->datatype, a));
    if (w->present && strcmp(w->datatype, in->datatype) != 0)
        return mml_error_set(err, MML_ETYPE, "weight",
                             "WEIGHT datatype %s must equal the INPUT datatype %s",
                             shown(w->datatype, a), shown(in->datatype, b));
    if (strcmp(tg->datatype, "INT64") != 0)
        return mml_error_set(err, MML_ETYPE, "target",
                             "TARGET datatype must be INT64, got %s",
                             shown(tg->datatype, a));
    mml_desc desc;
    mml_desc_init(&desc);
    desc.dtype = in->dtype;
    desc.input_rank = in->rank;
    desc.n = in->dim[0];
    desc.c = in->dim[1];
    desc.target_rank = tg->rank;
    desc.target_len = tg->dim[0];
    desc.has_weight = w->present;
    desc.weight_dtype = w->dtype;
    desc.weight_rank = w->rank;
    desc.weight_len = w->dim[0];
    desc.p = d->p;
    desc.margin = d->margin;
    desc.reduction = d->reduction;
    return mml_validate(&desc, err);
}

/* ---- JSON tensor data ------------------------------------------------- */

/* The tensor's data array, read from the header text (v2_text.h). */
static int fill_json(const v2_decoder *d, tensor *t, int k, mml_error *err)
{
    if (!is_kind(t->data, V2_ARRAY))
        return mml_error_set(err, MML_ETYPE, tensor_field[k], "%s data must be an array, got %s",
                             tensor_name[k], json_kind(t->data));
    if (k != T_TARGET && t->dtype == MML_F16)
        return mml_error_set(err, MML_EBADREQ, tensor_field[k],
                             "%s: FP16 has no JSON form, send it as binary data (binary_data_size)",
                             tensor_name[k]);
    if (!t->data->in_text)   /* "data" or "inputs" spelt with escapes */
        return mml_error_set(err, MML_EBADREQ, tensor_field[k],
                             "%s data: write the keys \"inputs\" and \"data\" without escapes",
                             tensor_name[k]);
    v2_sink sink = {.name = tensor_name[k], .field = tensor_field[k],
                    .dtype = k == T_TARGET ? 0 : t->dtype, .buf = t->buf, .count = t->count};
    uint64_t seen;
    int rc = v2_text_read(d->json, t->data->span, &sink, &seen, err);
    if (rc < 0)
        return rc;
    if (seen != t->count)
        return mml_error_set(err, MML_EVALUE, tensor_field[k],
                             "%s has %llu data elements but its shape needs %llu",
                             tensor_name[k], (unsigned long long)seen,
                             (unsigned long long)t->count);
    return 0;
}

/* Sizes, limits and buffers: binary sizes must match the shapes, the
 * whole body must fit in max_body, and only then is memory taken. */

static int plan_tensors(v2_decoder *d, mml_error *err)
{
    uint64_t total = d->json_len;
    for (int k = 0; k < T_COUNT; k++) {
        tensor *t = &d->t[k];
        if (!t->present)
            continue;
        size_t es = k == T_TARGET ? 8 : mml_dtype_size(t->dtype);
        t->bytes = t->count * es;   /* bounded by mml_validate */
        if (t->data != NULL && t->binary_size >= 0)
            return mml_error_set(err, MML_EBADREQ, tensor_field[k],
                                 "%s has both data and binary_data_size", tensor_name[k]);
        if (t->data == NULL && t->binary_size < 0)
            return mml_error_set(err, MML_EBADREQ, tensor_field[k],
                                 "%s has neither data nor binary_data_size", tensor_name[k]);
        if (t->binary_size >= 0) {
            if (d->header_len < 0)
                return mml_error_set(err, MML_EBADREQ, tensor_field[k],
                                     "%s is binary data but Inference-Header-Content-Length is missing",
                                     tensor_name[k]);
            if ((uint64_t)t->binary_size != t->bytes)
                return mml_error_set(err, MML_EBADREQ, tensor_field[k],
                                     "%s binary_data_size is %lld bytes but shape and %s need %llu",
                                     tensor_name[k], (long long)t->binary_size, t->datatype,
                                     (unsigned long long)t->bytes);
            if (t->bytes > d->max_body || total + t->bytes > d->max_body)
                return mml_error_set(err, MML_ETOOBIG, "body",
                                     "body declares more than the limit of %llu bytes",
                                     (unsigned long long)d->max_body);
            total += t->bytes;
        } else if (t->bytes > d->max_body) {
            return mml_error_set(err, MML_ETOOBIG, tensor_field[k],
                                 "%s of this shape needs %llu bytes, over the limit of %llu",
                                 tensor_name[k], (unsigned long long)t->bytes,
                                 (unsigned long long)d->max_body);
        }
    }
    uint64_t sizes[T_COUNT];
    for (int k = 0; k < T_COUNT; k++)
        sizes[k] = d->t[k].present ? d->t[k].bytes : 0;
    if (payload_mem_need(sizes, T_COUNT, "body", err) < 0)
        return err->code;
    /* Tensors sent as JSON are in the text already: their buffers are
     * taken now. Binary ones are charged as their bytes arrive
     * (copy_binary), so a sender that stalls holds only what it sent. */
    for (int k = 0; k < T_COUNT; k++) {
        tensor *t = &d->t[k];
        if (!t->present || t->bytes == 0)
            continue;
        if (t->binary_size >= 0) {
            int rc = payload_fill_open(&t->fill, (size_t)t->bytes, tensor_field[k], err);
            if (rc < 0)
                return rc;
            t->buf = t->fill.p;
            continue;
        }
        t->buf = payload_mem_take(&d->acct, (size_t)t->bytes, tensor_field[k], err);
        if (t->buf == NULL)
            return err->code;
        int rc = fill_json(d, t, k, err);
        if (rc < 0)
            return rc;
    }
    for (int k = 0; k < T_COUNT; k++)   /* JSON data of empty tensors */
        if (d->t[k].present && d->t[k].bytes == 0 && d->t[k].binary_size < 0) {
            int rc = fill_json(d, &d->t[k], k, err);
            if (rc < 0)
                return rc;
        }
    /* Binary sections in the order of "inputs". */
    for (int pos = 0; pos < T_COUNT; pos++)
        for (int k = 0; k < T_COUNT; k++)
            if (d->t[k].present && d->t[k].pos == pos && d->t[k].binary_size >= 0)
                d->order[d->nbin++] = k;
    d->bin_total = total - d->json_len;
    return 0;
}

/* ---- the JSON header -------------------------------------------------- */

/* model_name and model_version in the body, when given, must name the one
 * model the URL reached: a request meant for another model or version is
 * not answered by this one. */
static int check_model(const v2_node *v, const char *key, const char *want, mml_error *err)
{
    char text[SHOWN];
    if (v == NULL)
        return 0;
    if (!is_kind(v, V2_STRING))
        return mml_error_set(err, MML_ETYPE, key, "%s must be a string, got %s", key,
                             json_kind(v));
    if (strcmp(v->str, want) != 0)
        return mml_error_set(err, MML_EVALUE, key, "%s \"%s\" does not match this endpoint's \"%s\"",
                             key, shown(v->str, text), want);
    return 0;
}

static int parse_top(v2_decoder *d, const v2_node *root, mml_error *err)
{
    const v2_node *inputs = NULL, *outputs = NULL, *params = NULL, *id = NULL;
    const v2_node *model = NULL, *version = NULL;
    int rc, binary = -1;
    if (!is_kind(root, V2_OBJECT))
        return mml_error_set(err, MML_EBADREQ, "body",
                             "the inference request must be a JSON object");
    for (const v2_node *v = root->child; v != NULL; v = v->next) {
        const v2_node **slot = strcmp(v->key, "inputs") == 0 ? &inputs
                           : strcmp(v->key, "outputs") == 0 ? &outputs
                           : strcmp(v->key, "parameters") == 0 ? &params
                           : strcmp(v->key, "id") == 0 ? &id
                           : strcmp(v->key, "model_name") == 0 ? &model
                           : strcmp(v->key, "model_version") == 0 ? &version : NULL;
        char text[SHOWN];
        if (slot == NULL || *slot != NULL)
            return mml_error_set(err, MML_EVALUE, v->key, "%s key \"%s\" in the request",
                                 slot == NULL ? "unknown" : "duplicate", shown(v->key, text));
        *slot = v;
    }
    if ((rc = check_model(model, "model_name", V2_MODEL_NAME, err)) < 0 ||
        (rc = check_model(version, "model_version", V2_MODEL_VERSION, err)) < 0)
        return rc;
    if (id != NULL) {
        if (!is_kind(id, V2_STRING))
            return mml_error_set(err, MML_ETYPE, "id", "id must be a string, got %s",
                                 json_kind(id));
        d->id = strdup(id->str);
        if (d->id == NULL)
            return mml_error_set(err, MML_ENOMEM, "id", "out of memory");
    }
    if (params != NULL && (rc = parse_parameters(d, params, err)) < 0)
        return rc;
    if (outputs != NULL && (rc = parse_outputs(d, outputs, &binary, err)) < 0)
        return rc;
    if (binary >= 0)
        d->binary_output = binary;
    if (!is_kind(inputs, V2_ARRAY))
        return mml_error_set(err, inputs == NULL ? MML_EVALUE : MML_ETYPE, "inputs",
                             "the request needs an \"inputs\" array");
    int pos = 0;
    for (const v2_node *v = inputs->child; v != NULL; v = v->next, pos++)
        if ((rc = parse_input(d, v, pos, err)) < 0)
            return rc;
    if ((rc = check_tensors(d, err)) < 0)
        return rc;
    return plan_tensors(d, err);
}

/* The header is read into a tree with the data arrays left in the text
 * (v2_text.h). Its bytes must be UTF-8, which the lexer checks in strings
 * and nothing else may hold; that error comes first wherever it is, so
 * the whole text is checked for it when any other is found. */
static void drop_json(v2_decoder *d)
{
    payload_mem_uncharge(&d->acct, d->json_cap);
    free(d->json);
    d->json = NULL;
    d->json_cap = 0;
}

static int parse_header(v2_decoder *d, mml_error *err)
{
    v2_tree tree;
    int rc;
    if (d->json_len == 0) {
        rc = mml_error_set(err, MML_EBADREQ, "body", "the request has no JSON header (empty body)");
        goto done;
    }
    const char *trailing = d->header_len < 0
        ? "a body with binary data needs Inference-Header-Content-Length, the JSON's length"
        : "Inference-Header-Content-Length is longer than the JSON";
    rc = v2_text_parse(d->json, d->json_len, trailing, V2_MAX_JSON, &tree, err);
    if (rc < 0) {
        int64_t bad = utf8_invalid_at(d->json, d->json_len);
        if (bad >= 0)
            rc = mml_error_set(err, MML_EBADREQ, "body",
                               "the JSON request header is not valid UTF-8 (byte %lld)%s",
                               (long long)bad, d->header_len < 0 ?
                               "; binary data needs the Inference-Header-Content-Length header" : "");
        goto done;
    }
    rc = parse_top(d, tree.root, err);
    v2_text_free(&tree);
done:
    drop_json(d);    /* the header is not needed any more */
    d->parsed = rc == 0;
    return rc;
}

/* ---- decoder ---------------------------------------------------------- */

int v2_parse_header_length(const char *value, int64_t *len, mml_error *err)
{
    uint64_t v = 0;
    const char *p = value;
    *len = -1;
    if (value == NULL)
        return 0;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *digits = p;
    while (*p >= '0' && *p <= '9') {
        if (v > (uint64_t)(INT64_MAX - 9) / 10)
            return mml_error_set(err, MML_EBADREQ, "Inference-Header-Content-Length",
                                 "Inference-Header-Content-Length is too large");
        v = v * 10 + (uint64_t)(*p++ - '0');
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (p == digits || *p != '\0')
        return mml_error_set(err, MML_EBADREQ, "Inference-Header-Content-Length",
                             "Inference-Header-Content-Length must be a decimal number of bytes");
    *len = (int64_t)v;
    return 0;
}

/* The decoder of one body of at most max_body bytes; header_len is the
 * Inference-Header-Content-Length, or -1 when absent (the whole body is
 * the JSON request). A header_len that is not positive or over max_body
 * makes the first feed() or finish() fail. */
static v2_decoder *create_decoder(uint64_t max_body, int64_t header_len)
{
    v2_decoder *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->super.ops = &v2_decoder_ops;
    d->max_body = max_body;
    d->header_len = header_len;
    d->p = 1;
    d->margin = 1;
    d->reduction = MML_MEAN;
    if (header_len == 0 || header_len < -1)
        d->failed = mml_error_set(&d->error, MML_EBADREQ, "Inference-Header-Content-Length",
                                  "Inference-Header-Content-Length must be positive, got %lld",
                                  (long long)header_len);
    else if (header_len > 0 && (uint64_t)header_len > max_body)
        d->failed = mml_error_set(&d->error, MML_ETOOBIG, "body",
                                  "Inference-Header-Content-Length %lld is over the limit of %llu bytes",
                                  (long long)header_len, (unsigned long long)max_body);
    return d;
}

static decoder *v2_create(const decoder_conf *conf, mml_error *err)
{
    int64_t hlen;
    if (v2_parse_header_length(decoder_conf_header(conf, "Inference-Header-Content-Length"),
                               &hlen, err) < 0)
        return NULL;
    v2_decoder *d = create_decoder(conf->max_body, hlen);
    if (d == NULL) {
        mml_error_set(err, MML_ENOMEM, "body", "out of memory");
        return NULL;
    }
    return &d->super;
}

static void v2_destroy(decoder *base)
{
    v2_decoder *d = (v2_decoder *)base;
    if (d == NULL)
        return;
    for (int k = 0; k < T_COUNT; k++) {
        if (d->t[k].fill.p != NULL)
            payload_fill_drop(&d->acct, &d->t[k].fill);
        else
            payload_mem_free(d->t[k].buf);
    }
    drop_json(d);
    free(d->id);
    free(d);
}

static int fail(v2_decoder *d, int rc, mml_error *err)
{
    d->failed = rc;
    d->error = *err;
    return rc;
}

/* Append to the JSON buffer, at most limit bytes in all; the buffer is
 * charged to the memory budget as it grows. */
static int append_json(v2_decoder *d, const char *data, size_t len, uint64_t limit,
                       mml_error *err)
{
    if (len > limit - d->json_len)
        return mml_error_set(err, MML_ETOOBIG, "body",
                             "the JSON part of the request is over the limit of %llu bytes",
                             (unsigned long long)limit);
    if (d->json_len + len > d->json_cap) {
        uint64_t cap = d->json_cap ? (uint64_t)d->json_cap * 2 : 4096;
        if (cap < d->json_len + len)
            cap = d->json_len + len;
        if (cap > limit)
            cap = limit;
        int rc = payload_mem_charge(&d->acct, cap - d->json_cap, "body", err);
        if (rc < 0)
            return rc;
        char *p = realloc(d->json, (size_t)cap);
        if (p == NULL) {
            payload_mem_uncharge(&d->acct, cap - d->json_cap);
            return mml_error_set(err, MML_ENOMEM, "body", "out of memory");
        }
        d->json = p;
        d->json_cap = (size_t)cap;
    }
    memcpy(d->json + d->json_len, data, len);
    d->json_len += len;
    return 0;
}

/* Copy binary tensor bytes to their place, charging them to the budget
 * first. 0, or the budget's refusal. */
static int copy_binary(v2_decoder *d, const char *data, size_t len, mml_error *err)
{
    while (len > 0) {
        tensor *t = &d->t[d->order[d->cur]];
        uint64_t room = t->bytes - d->cur_off;
        if (room == 0) {
            d->cur++;
            d->cur_off = 0;
            continue;
        }
        size_t take = len < room ? len : (size_t)room;
        int rc = payload_fill_charge(&d->acct, &t->fill, d->cur_off + take,
                                     tensor_field[d->order[d->cur]], err);
        if (rc < 0)
            return rc;
        memcpy(t->buf + d->cur_off, data, take);
        d->cur_off += take;
        d->bin_got += take;
        data += take;
        len -= take;
    }
    return 0;
}

static int v2_feed(decoder *base, const char *data, size_t len, mml_error *err)
{
    v2_decoder *d = (v2_decoder *)base;
    mml_error local;
    int rc;
    if (err == NULL)
        err = &local;
    if (d->failed) {
        *err = d->error;
        return d->failed;
    }
    if (len == 0)
        return 0;
    if (d->header_len < 0) {
        rc = append_json(d, data, len, d->max_body, err);
        return rc < 0 ? fail(d, rc, err) : 0;
    }
    if (!d->parsed) {
        size_t take = (uint64_t)d->header_len - d->json_len;
        if (take > len)
            take = len;
        if ((rc = append_json(d, data, take, (uint64_t)d->header_len, err)) < 0)
            return fail(d, rc, err);
        data += take;
        len -= take;
        if (d->json_len < (size_t)d->header_len)
            return 0;
        if ((rc = parse_header(d, err)) < 0)
            return fail(d, rc, err);
    }
    if (len > d->bin_total - d->bin_got)
        return fail(d, mml_error_set(err, MML_EBADREQ, "body",
                                     "body is longer than Inference-Header-Content-Length (%lld) plus the binary_data_size of the inputs (%llu)",
                                     (long long)d->header_len,
                                     (unsigned long long)d->bin_total), err);
    rc = copy_binary(d, data, len, err);
    return rc < 0 ? fail(d, rc, err) : 0;
}

static int check_complete(v2_decoder *d, mml_error *err)
{
    if (d->header_len < 0)
        return parse_header(d, err);
    if (!d->parsed)
        return mml_error_set(err, MML_EBADREQ, "body",
                             "truncated body: %zu bytes, but the JSON header alone is %lld",
                             d->json_len, (long long)d->header_len);
    if (d->bin_got != d->bin_total)
        return mml_error_set(err, MML_EBADREQ, "body",
                             "truncated body: %llu of %llu bytes of binary tensor data",
                             (unsigned long long)d->bin_got, (unsigned long long)d->bin_total);
    return 0;
}

static int v2_finish(decoder *base, payload *out, mml_error *err)
{
    v2_decoder *d = (v2_decoder *)base;
    mml_error local;
    int rc;
    if (err == NULL)
        err = &local;
    memset(out, 0, sizeof(*out));
    if (d->failed) {
        *err = d->error;
        return d->failed;
    }
    if ((rc = check_complete(d, err)) < 0)
        return fail(d, rc, err);
    tensor *in = &d->t[T_INPUT], *tg = &d->t[T_TARGET], *w = &d->t[T_WEIGHT];
    if (V2_HOST_BE)
        for (int k = 0; k < T_COUNT; k++)
            if (d->t[k].binary_size > 0)
                payload_swap_elems(d->t[k].buf, d->t[k].count, k == T_TARGET ? 8 : mml_dtype_size(d->t[k].dtype));
    uint64_t n = in->dim[0], c = in->dim[1];
    if ((rc = mml_validate_targets((const int64_t *)(void *)tg->buf, n, c, err)) < 0)
        return fail(d, rc, err);
    for (int k = 0; k < T_COUNT; k++)    /* binary tensors: now ordinary blocks */
        if (d->t[k].fill.p != NULL)
            d->t[k].buf = payload_fill_close(&d->acct, &d->t[k].fill);
    out->input = in->buf;
    out->target = (int64_t *)(void *)tg->buf;
    out->weight = w->present ? w->buf : NULL;
    in->buf = tg->buf = w->buf = NULL;
    out->req = (mml_request){
        .dtype = (mml_dtype)in->dtype,
        .p = (int)d->p,
        .margin = (int32_t)d->margin,
        .reduction = (mml_reduction)d->reduction,
        .n = n,
        .c = c,
        .input = out->input,
        .target = out->target,
        .weight = out->weight,
    };
    return 0;
}

/* ---- encoders --------------------------------------------------------- */

typedef struct strbuf {
    char *p;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_put(strbuf *b, const void *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(strbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_put(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* s as a JSON string literal; bytes >= 0x80 pass through (the header was
 * checked to be UTF-8). */
static void sb_json_string(strbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_put(b, e, 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_put(b, s, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static char *sb_finish(strbuf *b, size_t *len)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    *len = b->len;
    return b->p;
}

static void sb_number(strbuf *b, int dtype, double v)
{
    char num[32];
    if (isnan(v))
        sb_puts(b, "\"NaN\"");
    else if (isinf(v))
        sb_puts(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else {
        json_fmt_shortest(v, dtype, num);
        sb_puts(b, num);
    }
}

char *v2_encode_result(const char *id, int binary_output, const mml_request *req,
                       const void *out, size_t *len, size_t *header_len)
{
    uint64_t count = mml_out_count(req);
    size_t bytes = (size_t)count * mml_dtype_size(req->dtype);
    strbuf b = {0};
    sb_puts(&b, "{\"model_name\":\"" V2_MODEL_NAME "\",\"model_version\":\"" V2_MODEL_VERSION "\"");
    if (id != NULL) {
        sb_puts(&b, ",\"id\":");
        sb_json_string(&b, id);
    }
    sb_printf(&b, ",\"outputs\":[{\"name\":\"LOSS\",\"datatype\":\"%s\",\"shape\":",
              triton_dtype(req->dtype));
    if (req->reduction == MML_NONE)
        sb_printf(&b, "[%llu]", (unsigned long long)count);
    else
        sb_puts(&b, "[]");
    if (binary_output) {
        sb_printf(&b, ",\"parameters\":{\"binary_data_size\":%zu}}]}", bytes);
        *header_len = b.len;
        if (bytes > 0)
            sb_put(&b, out, bytes);
        if (V2_HOST_BE && !b.oom)
            payload_swap_elems(b.p + *header_len, count, mml_dtype_size(req->dtype));
    } else {
        sb_puts(&b, ",\"data\":[");
        for (uint64_t i = 0; i < count; i++) {
            if (i > 0)
                sb_put(&b, ",", 1);
            sb_number(&b, req->dtype, mml_load(req->dtype, out, i));
        }
        sb_puts(&b, "]}]}");
        *header_len = 0;
    }
    return sb_finish(&b, len);
}

char *v2_encode_error(const char *message, size_t *len)
{
    strbuf b = {0};
    sb_puts(&b, "{\"error\":");
    sb_json_string(&b, message);
    sb_puts(&b, "}");
    return sb_finish(&b, len);
}

char *v2_encode_mml_error(const mml_error *err, size_t *len)
{
    char msg[sizeof(err->message) + 40];
    snprintf(msg, sizeof(msg), "%s: %s", mml_err_name(err->code), err->message);
    return v2_encode_error(msg, len);
}

char *v2_encode_server_metadata(const char *version, size_t *len)
{
    strbuf b = {0};
    sb_puts(&b, "{\"name\":\"lossd\",\"version\":");
    sb_json_string(&b, version);
    sb_puts(&b, ",\"extensions\":[\"binary_tensor_data\"]}");
    return sb_finish(&b, len);
}

const char *v2_model_metadata(void)
{
    return "{\"name\":\"" V2_MODEL_NAME "\",\"versions\":[\"" V2_MODEL_VERSION "\"],"
           "\"platform\":\"lossd\","
           "\"inputs\":["
           "{\"name\":\"INPUT\",\"datatype\":\"FP32\",\"shape\":[-1,-1]},"
           "{\"name\":\"TARGET\",\"datatype\":\"INT64\",\"shape\":[-1]},"
           "{\"name\":\"WEIGHT\",\"datatype\":\"FP32\",\"shape\":[-1]}],"
           "\"outputs\":[{\"name\":\"LOSS\",\"datatype\":\"FP32\",\"shape\":[-1]}]}";
}

const char *v2_model_config(void)
{
    return "{\"name\":\"" V2_MODEL_NAME "\",\"platform\":\"\",\"backend\":\"lossd\","
           "\"version_policy\":{\"specific\":{\"versions\":[" V2_MODEL_VERSION "]}},"
           "\"max_batch_size\":0,"
           "\"input\":["
           "{\"name\":\"INPUT\",\"data_type\":\"TYPE_FP32\",\"format\":\"FORMAT_NONE\",\"dims\":[-1,-1]},"
           "{\"name\":\"TARGET\",\"data_type\":\"TYPE_INT64\",\"format\":\"FORMAT_NONE\",\"dims\":[-1]},"
           "{\"name\":\"WEIGHT\",\"data_type\":\"TYPE_FP32\",\"format\":\"FORMAT_NONE\",\"dims\":[-1],"
           "\"optional\":true}],"
           "\"output\":[{\"name\":\"LOSS\",\"data_type\":\"TYPE_FP32\",\"dims\":[-1]}]}";
}

const char *v2_health_live(void)
{
    return "{\"live\":true}";
}

const char *v2_health_ready(void)
{
    return "{\"ready\":true}";
}

static int v2_answer(const decoder *base, const mml_request *req, const void *out,
                     decoder_answer *a)
{
    const v2_decoder *d = (const v2_decoder *)base;
    size_t hlen = 0;
    memset(a, 0, sizeof *a);
    a->body = v2_encode_result(d->id, d->binary_output, req, out, &a->len, &hlen);
    if (a->body == NULL)
        return MML_ENOMEM;
    a->type = hlen > 0 ? "application/octet-stream" : "application/json";
    if (hlen > 0) {
        a->header = "Inference-Header-Content-Length";
        snprintf(a->value, sizeof a->value, "%zu", hlen);
    }
    return 0;
}

const char *v2_decoder_id(const decoder *base)
{
    return ((const v2_decoder *)base)->id;
}

int v2_decoder_binary_output(const decoder *base)
{
    return ((const v2_decoder *)base)->binary_output;
}

const decoder_ops v2_decoder_ops = {
    .name = "v2",
    .create = v2_create,
    .feed = v2_feed,
    .finish = v2_finish,
    .answer = v2_answer,
    .destroy = v2_destroy,
};
