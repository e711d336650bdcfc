/*
 * cel.h - a Common Expression Language (CEL) subset for the rbac plugin:
 * the lexer (cel_lex.c), the parser to an AST (cel_parse.c), the checker
 * that types the AST and binds Envoy's attribute names to what gwf knows
 * of a request (cel_check.c), and the evaluator (cel_eval.c).
 *
 * Why our own: kgateway's rbac field is a list of CEL expressions that
 * Envoy evaluates per request. Expressions are parsed and checked once,
 * at config load; a mistake, an attribute gwf cannot provide or a
 * construct this subset does not implement is a config error with the
 * 1-based column, never a silent false at request time. Evaluation
 * walks the checked AST: its recursion is bounded by CEL_MAX_DEPTH
 * (enforced by the parser), its work by CEL_MAX_STEPS, comprehensions
 * (all, exists, exists_one, map, filter) iterate over their input's
 * items only, and every string, list or map it builds (concatenation,
 * conversions, joined repeated headers, list literals with computed
 * items, map() and filter() results, JSON array and object claims) goes
 * to a fixed scratch buffer the caller owns (per worker): the request
 * path never allocates. Timestamps and durations are cel_time.c's.
 */
#ifndef GWF_RBAC_CEL_H
#define GWF_RBAC_CEL_H

#include <gwf/abi.h>

#include <stddef.h>
#include <stdint.h>

#define CEL_MAX_DEPTH 100    /* depth of the AST (CEL asks for >= 12) */
#define CEL_MAX_STEPS 100000 /* node evaluations per expression */
#define CEL_MAX_EXPR_LEN 16384
/* per worker: strings, lists and maps built while evaluating */
#define CEL_SCRATCH_SIZE 65536

/* Value kinds; also the static types the checker computes (CEL_DYN:
 * known only at run time). */
typedef enum cel_kind {
    CEL_DYN = 0,
    CEL_NULL,
    CEL_BOOL,
    CEL_INT,
    CEL_UINT,
    CEL_DOUBLE,
    CEL_STRING,
    CEL_BYTES,
    CEL_LIST,
    CEL_MAP,
    CEL_TIMESTAMP, /* google.protobuf.Timestamp: v.t, UTC */
    CEL_DURATION,  /* google.protobuf.Duration: v.t */
    CEL_TYPE,      /* a type value (type(x), `int`, ...): v.i is its kind */
    CEL_ERROR
} cel_kind;

/* The CEL name of kind k ("int", "google.protobuf.Timestamp", ...; "?"
 * out of range). */
const char *cel_type_name(cel_kind k);

/* Where a map value comes from. */
typedef enum cel_map_src {
    CEL_MAP_LITERAL = 0, /* values: v.l, key and value pairs */
    CEL_MAP_HEADERS,     /* request.headers */
    CEL_MAP_FILTER_META, /* metadata.filter_metadata */
    CEL_MAP_JWT_AUTHN,   /* ...['envoy.filters.http.jwt_authn'] */
    CEL_MAP_JWT_PAYLOAD  /* ...['payload']: jwt_auth.claim.<key> */
} cel_map_src;

struct cel_node;

typedef struct cel_value {
    cel_kind kind;
    int src; /* CEL_MAP: cel_map_src; CEL_ERROR: 1 for a gwf limit */
    union {
        int b;
        int64_t i;
        uint64_t u;
        double d;
        struct {
            const char *ptr;
            size_t len;
        } s; /* string and bytes; CEL_ERROR: the message */
        /* lists: n items; maps (CEL_MAP_LITERAL): n entries, 2n
         * values key, value, key, value. Items live in the program (a
         * constant literal) or in the evaluation's scratch. */
        struct {
            const struct cel_value *items;
            size_t n;
        } l;
        struct {
            int64_t sec; /* timestamps: since the Unix epoch */
            int32_t ns;  /* 0..999999999 (durations: sign of sec) */
        } t;
    } v;
} cel_value;

/* Attributes the checker binds. */
typedef enum cel_attr {
    CEL_ATTR_NONE = 0,
    CEL_ATTR_PATH,
    CEL_ATTR_URL_PATH,
    CEL_ATTR_HOST,
    CEL_ATTR_SCHEME,
    CEL_ATTR_METHOD,
    CEL_ATTR_HEADERS,
    CEL_ATTR_REFERER,
    CEL_ATTR_USERAGENT,
    CEL_ATTR_PROTOCOL,
    CEL_ATTR_QUERY,
    CEL_ATTR_SOURCE_ADDRESS,
    CEL_ATTR_SOURCE_PORT,
    CEL_ATTR_DEST_ADDRESS,
    CEL_ATTR_DEST_PORT,
    CEL_ATTR_FILTER_META,
    CEL_ATTR_TIME /* request.time: the activation's time_ns */
} cel_attr;

/* AST node kinds. */
typedef enum cel_op {
    CEL_N_LIT,
    CEL_N_IDENT,
    CEL_N_SELECT, /* args[0].name */
    CEL_N_HAS,    /* has(args[0].name) */
    CEL_N_INDEX,  /* args[0][args[1]] */
    CEL_N_CALL,   /* name(args...), or args[0].name(args[1..]) if member */
    CEL_N_LIST,
    CEL_N_MAP, /* args: key, value, key, value, ... */
    CEL_N_COND,
    CEL_N_AND,
    CEL_N_OR,
    CEL_N_NOT,
    CEL_N_NEG,
    CEL_N_BIN,  /* bin: one of the tokens below */
    CEL_N_ATTR, /* checked: attr */
    CEL_N_COMP, /* checked macro fn: args range, the variable's IDENT,
                   predicate or transform [, transform]; slot */
    CEL_N_VAR   /* checked: a comprehension variable, slot */
} cel_op;

/* Binary operators (CEL_N_BIN) and functions (CEL_N_CALL), bound by the
 * checker. */
typedef enum cel_fn {
    CEL_F_NONE = 0,
    CEL_F_ADD,
    CEL_F_SUB,
    CEL_F_MUL,
    CEL_F_DIV,
    CEL_F_MOD,
    CEL_F_EQ,
    CEL_F_NE,
    CEL_F_LT,
    CEL_F_LE,
    CEL_F_GT,
    CEL_F_GE,
    CEL_F_IN,
    CEL_F_SIZE,
    CEL_F_STARTS,
    CEL_F_ENDS,
    CEL_F_CONTAINS,
    CEL_F_MATCHES,
    CEL_F_INT,
    CEL_F_UINT,
    CEL_F_DOUBLE,
    CEL_F_STRING,
    CEL_F_BYTES,
    CEL_F_BOOL,
    CEL_F_TYPE,
    CEL_F_DYN,
    CEL_F_TIMESTAMP,
    CEL_F_DURATION,
    CEL_F_GET_FULL_YEAR,
    CEL_F_GET_MONTH,
    CEL_F_GET_DATE,
    CEL_F_GET_DAY_OF_MONTH,
    CEL_F_GET_DAY_OF_WEEK,
    CEL_F_GET_DAY_OF_YEAR,
    CEL_F_GET_HOURS,
    CEL_F_GET_MINUTES,
    CEL_F_GET_SECONDS,
    CEL_F_GET_MILLISECONDS,
    /* macros (CEL_N_COMP) */
    CEL_F_ALL,
    CEL_F_EXISTS,
    CEL_F_EXISTS_ONE,
    CEL_F_MAP,
    CEL_F_FILTER
} cel_fn;

/* Comprehensions nest at most this deep (each has one variable). */
#define CEL_MAX_VARS 16

typedef struct cel_node {
    cel_op op;
    cel_fn fn;
    cel_attr attr;
    cel_kind type;   /* static type after checking (CEL_DYN if unknown) */
    int map_src;     /* static map source when type is CEL_MAP */
    int member;      /* CEL_N_CALL: target.name(...) */
    uint32_t offset; /* byte offset of the node's token */
    cel_value lit;   /* CEL_N_LIT (strings point into `text`) */
    char *text;      /* owned: a literal's bytes, a name */
    size_t text_len;
    struct cel_node **args;
    size_t nargs;
    void *re;         /* pcre2_code for matches() with a literal pattern */
    int slot;         /* CEL_N_COMP, CEL_N_VAR: the variable's nesting level */
    int tz_min;       /* a time accessor's literal fixed offset, minutes */
    cel_value *items; /* owned: a constant list/map literal's values (lit) */
} cel_node;

/* A checked expression. */
typedef struct cel_program {
    cel_node *root;
    const char *source; /* borrowed: the expression text */
    size_t source_len;
} cel_program;

/* Why compiling failed: the message and where (1-based). */
typedef struct cel_error {
    char msg[256];
    uint32_t line, column;
} cel_error;

/* [main] Parse and check `src` into `*out`. Returns 0, or -1 with `*err`
 * filled. */
int cel_compile(const char *src, size_t len, cel_program *out, cel_error *err);
/* The same; with check_types 0 a type error (an operator or function
 * applied to types it has no overload for) is left to evaluation, as
 * CEL's unchecked evaluation does. The rbac plugin always checks. */
int cel_compile_ex(const char *src, size_t len, int check_types,
                   cel_program *out, cel_error *err);
void cel_program_free(cel_program *p);

/* What the evaluator reads a request through: a gwf stream, or a table
 * in the unit tests. */
typedef struct cel_activation {
    /* Each returns 1 with the value, 0 when it is absent, and -1 when it
     * could not be read (the scratch is too small, the host failed): the
     * evaluator cannot tell the answer then, a limit (fail closed).
     *
     * One request header (lower-case name) joined over its values with
     * ","; `scratch` is for the join. */
    int (*header)(void *ctx, const char *name, size_t len, gwf_view *out,
                  char *scratch, size_t scratch_size, size_t *used);
    /* A pseudo-header (":path", ":method", ...) or attribute. */
    int (*attr)(void *ctx, cel_attr attr, gwf_view *out);
    /* A JWT claim, of kind STRING or JSON. */
    int (*claim)(void *ctx, const char *name, size_t len, gwf_value_type *type,
                 gwf_view *out);
    void *ctx;
    /* request.time, ns since the Unix epoch: 0 when unknown. Read at
     * most once per evaluation. May be NULL (request.time errs). */
    int (*time_ns)(void *ctx, int64_t *ns);
} cel_activation;

/* The outcome of one evaluation. */
typedef enum cel_result {
    CEL_RESULT_FALSE = 0, /* false, or an evaluation error (Envoy: no match) */
    CEL_RESULT_TRUE = 1,
    CEL_RESULT_LIMIT = 2 /* a gwf limit hit (steps, scratch): fail closed */
} cel_result;

/* A worker's evaluation state: the scratch buffer and the PCRE2 match
 * data for matches() (pcre2_match_data with one pair: a boolean match
 * needs no groups). Made once per worker, never on the request path. */
typedef struct cel_scratch {
    char *buf;
    size_t size, used;
    void *match_data;
    void *match_ctx; /* PCRE2's match and heap limits (CEL_MATCH_LIMIT) */
} cel_scratch;

/* PCRE2 bounds for one matches() call: backtracking steps and the
 * memory (KiB) its frames may take. */
#define CEL_MATCH_LIMIT 100000
#define CEL_MATCH_HEAP_KIB 1024
/* What work that is not one node costs of CEL_MAX_STEPS: a matches()
 * call CEL_MATCH_STEPS (PCRE2 may spend CEL_MATCH_LIMIT backtracking
 * steps, about a millisecond, on any subject, however short), and a scan
 * of a string (contains, matches, size, string(bytes)) a step per
 * CEL_SCAN_BYTES bytes. One evaluation thus makes at most 100 matches()
 * calls and scans at most 6.4 MB. */
#define CEL_MATCH_STEPS 1000
#define CEL_SCAN_BYTES 64

/* [worker] Make and free a worker's state. Returns 0 or -1. */
int cel_scratch_init(cel_scratch *sc, size_t size);
void cel_scratch_free(cel_scratch *sc);

/* [worker] Evaluate. `*why` (may be NULL) receives an error message for
 * a result that came from an error (NULL if the value was false). */
cel_result cel_eval(const cel_program *p, const cel_activation *act,
                    cel_scratch *scratch, const char **why);

/* [worker] Evaluate to a value (the conformance runner): the value's
 * strings may point into `scratch` or the program. */
cel_value cel_eval_value(const cel_program *p, const cel_activation *act,
                         cel_scratch *scratch);

/* Internal, between the files. */
typedef enum cel_tok {
    CEL_T_EOF = 0,
    CEL_T_ERROR,
    CEL_T_INT,
    CEL_T_UINT,
    CEL_T_DOUBLE,
    CEL_T_STRING,
    CEL_T_BYTES,
    CEL_T_IDENT,
    CEL_T_TRUE,
    CEL_T_FALSE,
    CEL_T_NULL,
    CEL_T_IN,
    CEL_T_LPAREN,
    CEL_T_RPAREN,
    CEL_T_LBRACKET,
    CEL_T_RBRACKET,
    CEL_T_LBRACE,
    CEL_T_RBRACE,
    CEL_T_DOT,
    CEL_T_COMMA,
    CEL_T_COLON,
    CEL_T_QUESTION,
    CEL_T_PLUS,
    CEL_T_MINUS,
    CEL_T_STAR,
    CEL_T_SLASH,
    CEL_T_PERCENT,
    CEL_T_NOT,
    CEL_T_EQ,
    CEL_T_NE,
    CEL_T_LT,
    CEL_T_LE,
    CEL_T_GT,
    CEL_T_GE,
    CEL_T_AND,
    CEL_T_OR
} cel_tok;

typedef struct cel_token {
    cel_tok kind;
    uint32_t offset, len;
    uint64_t u; /* INT (magnitude) and UINT */
    double d;   /* DOUBLE */
    char *text; /* STRING, BYTES: decoded, malloc'd (the parser owns) */
    size_t text_len;
    const char *error; /* CEL_T_ERROR: why */
    int reserved;      /* CEL_T_IDENT: a reserved word (only a field name) */
} cel_token;

typedef struct cel_lexer {
    const char *src;
    size_t len, pos;
} cel_lexer;

/* Next token. Strings are decoded into a malloc'd buffer. */
void cel_lex_next(cel_lexer *lx, cel_token *t);
/* Line and column (1-based) of byte `offset`. */
void cel_position(const char *src, size_t len, size_t offset, uint32_t *line,
                  uint32_t *column);

cel_node *cel_parse(const char *src, size_t len, cel_error *err);
int cel_check(cel_node *root, const char *src, size_t len, int check_types,
              cel_error *err);
void cel_node_free(cel_node *n);
void cel_regex_free(void *re);
void cel_fail(cel_error *err, const char *src, size_t len, size_t offset,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* cel_time.c: timestamps (0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z,
 * as seconds since the epoch) and durations (one int64 of nanoseconds,
 * about +-292 years, as CEL's language definition limits them). */
__extension__ typedef __int128 cel_i128; /* GCC and Clang */
#define CEL_TS_MIN (-62135596800LL)
#define CEL_TS_MAX 253402300799LL

typedef struct cel_civil_time {
    int64_t year;
    int month, mday; /* 1-based */
    int wday, yday;  /* 0 = Sunday; 0 = January 1st */
    int hour, min, sec;
} cel_civil_time;

int cel_ts_valid(int64_t sec);
/* A duration of `total_ns` as seconds and nanoseconds (same sign): 0, or
 * -1 when it does not fit an int64 of nanoseconds. */
int cel_dur_split(cel_i128 total_ns, int64_t *sec, int32_t *ns);
/* RFC 3339 text ("2009-02-13T23:31:30.5+01:00") to UTC: 0 or -1. */
int cel_ts_parse(const char *s, size_t len, int64_t *sec, int32_t *ns);
/* Go's duration text ("1h2m3.5s", "-90ms"): 0 or -1. */
int cel_dur_parse(const char *s, size_t len, int64_t *sec, int32_t *ns);
/* Text forms as CEL prints them: "2009-02-13T23:31:30.5Z", "1.5s". */
size_t cel_ts_format(int64_t sec, int32_t ns, char *out, size_t size);
size_t cel_dur_format(int64_t sec, int32_t ns, char *out, size_t size);
/* "UTC", "+05:30", "-08:00", "02:00" to minutes east: 0, or -1 (an IANA
 * name or anything else). */
int cel_tz_parse(const char *s, size_t len, int *minutes);
/* The calendar fields of `sec` at `tz_min` minutes east of UTC. */
void cel_civil(int64_t sec, int tz_min, cel_civil_time *c);

#endif
