/*
 * cel_parse.c - CEL's grammar to an AST (cel.h's cel_node), by
 * recursive descent with one token of look-ahead:
 *
 *   Expr     = Or ["?" Or ":" Expr]
 *   Or       = And {"||" And}          And = Rel {"&&" Rel}
 *   Rel      = Add {("<"|"<="|">"|">="|"=="|"!="|"in") Add}
 *   Add      = Mul {("+"|"-") Mul}     Mul = Unary {("*"|"/"|"%") Unary}
 *   Unary    = Member | "!" {"!"} Member | "-" {"-"} Member
 *   Member   = Primary {"." IDENT ["(" [Args] ")"] | "[" Expr "]"}
 *   Primary  = IDENT ["(" [Args] ")"] | "(" Expr ")" | "[" [Args] [","] "]"
 *            | "{" [Key ":" Expr {"," Key ":" Expr}] [","] "}" | literal
 *
 * The parser's own recursion (parentheses, unary operators) is bounded
 * by CEL_MAX_DEPTH; the checker bounds the depth of the tree it built
 * (long chains of a + b + ...), which bounds the evaluator's recursion.
 * `has(a.f)` becomes CEL_N_HAS. Message construction
 * (`T{f: v}`) and the leading-dot qualified names are refused here, with
 * their column: gwf has no protobuf types.
 */
#include "cel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    cel_lexer lx;
    cel_token tok;
    cel_error *err;
    int depth;
    int failed;
} parser;

static cel_node *parse_expr(parser *p);

static void
fail_at(parser *p, size_t offset, const char *msg)
{
    if (!p->failed)
        cel_fail(p->err, p->lx.src, p->lx.len, offset, "%s", msg);
    p->failed = 1;
}

static void
advance(parser *p)
{
    free(p->tok.text);
    cel_lex_next(&p->lx, &p->tok);
    if (p->tok.kind == CEL_T_ERROR) {
        fail_at(p, p->tok.offset, p->tok.error);
        p->tok.kind = CEL_T_EOF;
    }
}

void
cel_node_free(cel_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nargs; i++)
        cel_node_free(n->args[i]);
    free(n->args);
    free(n->text);
    if (n->re)
        cel_regex_free(n->re);
    free(n->items);
    free(n);
}

static cel_node *
node(parser *p, cel_op op, size_t offset)
{
    cel_node *n = calloc(1, sizeof(*n));
    if (!n) {
        fail_at(p, offset, "out of memory");
        return NULL;
    }
    n->op = op;
    n->offset = (uint32_t)offset;
    return n;
}

static int
add_arg(parser *p, cel_node *n, cel_node *a)
{
    cel_node **grown;

    if (!a)
        return -1;
    grown = realloc(n->args, (n->nargs + 1) * sizeof(*grown));
    if (!grown) {
        cel_node_free(a);
        fail_at(p, n->offset, "out of memory");
        return -1;
    }
    n->args = grown;
    n->args[n->nargs++] = a;
    return 0;
}

static int
expect(parser *p, cel_tok kind, const char *what)
{
    if (p->tok.kind != kind) {
        if (!p->failed) {
            char msg[128];
            snprintf(msg, sizeof(msg), "expected %s", what);
            fail_at(p, p->tok.offset, msg);
        }
        return -1;
    }
    advance(p);
    return 0;
}

static int
enter(parser *p)
{
    if (++p->depth > CEL_MAX_DEPTH) {
        fail_at(p, p->tok.offset, "expression nests too deeply");
        return -1;
    }
    return 0;
}

static char *
copy_ident(parser *p, size_t *len)
{
    char *s = malloc(p->tok.len + 1);
    if (!s) {
        fail_at(p, p->tok.offset, "out of memory");
        return NULL;
    }
    memcpy(s, p->lx.src + p->tok.offset, p->tok.len);
    s[p->tok.len] = '\0';
    *len = p->tok.len;
    return s;
}

/* Args up to `close`, into n->args. */
static int
parse_args(parser *p, cel_node *n, cel_tok close, int trailing_comma)
{
    if (p->tok.kind == close) {
        advance(p);
        return 0;
    }
    for (;;) {
        if (add_arg(p, n, parse_expr(p)) != 0)
            return -1;
        if (p->tok.kind == CEL_T_COMMA) {
            advance(p);
            if (trailing_comma && p->tok.kind == close) {
                advance(p);
                return 0;
            }
            continue;
        }
        return expect(p, close, close == CEL_T_RPAREN ? "')'" : "']'");
    }
}

static cel_node *
literal(parser *p)
{
    cel_node *n = node(p, CEL_N_LIT, p->tok.offset);
    if (!n)
        return NULL;
    switch (p->tok.kind) {
    case CEL_T_INT:
        if (p->tok.u > INT64_MAX) {
            fail_at(p, p->tok.offset, "integer literal out of range");
            cel_node_free(n);
            return NULL;
        }
        n->lit.kind = CEL_INT;
        n->lit.v.i = (int64_t)p->tok.u;
        break;
    case CEL_T_UINT:
        n->lit.kind = CEL_UINT;
        n->lit.v.u = p->tok.u;
        break;
    case CEL_T_DOUBLE:
        n->lit.kind = CEL_DOUBLE;
        n->lit.v.d = p->tok.d;
        break;
    case CEL_T_STRING:
    case CEL_T_BYTES:
        n->lit.kind = p->tok.kind == CEL_T_STRING ? CEL_STRING : CEL_BYTES;
        n->text = p->tok.text;
        n->text_len = p->tok.text_len;
        p->tok.text = NULL;
        n->lit.v.s.ptr = n->text;
        n->lit.v.s.len = n->text_len;
        break;
    case CEL_T_TRUE:
    case CEL_T_FALSE:
        n->lit.kind = CEL_BOOL;
        n->lit.v.b = p->tok.kind == CEL_T_TRUE;
        break;
    default:
        n->lit.kind = CEL_NULL;
        break;
    }
    n->type = n->lit.kind;
    advance(p);
    return n;
}

static cel_node *
primary(parser *p)
{
    cel_node *n;
    size_t at = p->tok.offset;

    switch (p->tok.kind) {
    case CEL_T_INT:
    case CEL_T_UINT:
    case CEL_T_DOUBLE:
    case CEL_T_STRING:
    case CEL_T_BYTES:
    case CEL_T_TRUE:
    case CEL_T_FALSE:
    case CEL_T_NULL:
        return literal(p);
    case CEL_T_LPAREN:
        advance(p);
        n = parse_expr(p);
        if (n && expect(p, CEL_T_RPAREN, "')'") != 0) {
            cel_node_free(n);
            return NULL;
        }
        return n;
    case CEL_T_LBRACKET:
        advance(p);
        n = node(p, CEL_N_LIST, at);
        if (n && parse_args(p, n, CEL_T_RBRACKET, 1) != 0) {
            cel_node_free(n);
            return NULL;
        }
        return n;
    case CEL_T_LBRACE:
        advance(p);
        n = node(p, CEL_N_MAP, at);
        if (!n)
            return NULL;
        while (p->tok.kind != CEL_T_RBRACE) {
            if (add_arg(p, n, parse_expr(p)) != 0 ||
                expect(p, CEL_T_COLON, "':'") != 0 ||
                add_arg(p, n, parse_expr(p)) != 0) {
                cel_node_free(n);
                return NULL;
            }
            if (p->tok.kind == CEL_T_COMMA) {
                advance(p);
                continue;
            }
            if (p->tok.kind != CEL_T_RBRACE) {
                fail_at(p, p->tok.offset, "expected ',' or '}'");
                cel_node_free(n);
                return NULL;
            }
        }
        advance(p);
        return n;
    case CEL_T_DOT:
        fail_at(p, at, "leading-dot qualified names are not supported");
        return NULL;
    case CEL_T_IDENT:
        if (p->tok.reserved) {
            /* reserved words are field and method names only (a.as) */
            fail_at(p, at, "reserved identifier");
            return NULL;
        }
        n = node(p, CEL_N_IDENT, at);
        if (!n || !(n->text = copy_ident(p, &n->text_len))) {
            cel_node_free(n);
            return NULL;
        }
        advance(p);
        if (p->tok.kind == CEL_T_LPAREN) {
            advance(p);
            n->op = CEL_N_CALL;
            if (parse_args(p, n, CEL_T_RPAREN, 0) != 0) {
                cel_node_free(n);
                return NULL;
            }
            if (strcmp(n->text, "has") == 0) {
                cel_node *a = n->nargs == 1 ? n->args[0] : NULL;
                if (!a || a->op != CEL_N_SELECT) {
                    fail_at(p, at,
                            "has() takes one field selection, as "
                            "in has(a.b)");
                    cel_node_free(n);
                    return NULL;
                }
                a->op = CEL_N_HAS;
                n->nargs = 0;
                cel_node_free(n);
                return a;
            }
        } else if (p->tok.kind == CEL_T_LBRACE) {
            fail_at(p, p->tok.offset,
                    "message construction is not supported (gwf has no "
                    "protobuf types)");
            cel_node_free(n);
            return NULL;
        }
        return n;
    case CEL_T_EOF:
        if (!p->failed)
            fail_at(p, at, "unexpected end of expression");
        return NULL;
    default:
        fail_at(p, at, "unexpected token");
        return NULL;
    }
}

static cel_node *
member(parser *p)
{
    cel_node *n;

    n = primary(p);
    while (n && !p->failed) {
        size_t at = p->tok.offset;
        if (p->tok.kind == CEL_T_DOT) {
            advance(p);
            if (p->tok.kind != CEL_T_IDENT) {
                fail_at(p, p->tok.offset, "expected a field name after '.'");
                break;
            }
            cel_node *s = node(p, CEL_N_SELECT, p->tok.offset);
            if (!s || !(s->text = copy_ident(p, &s->text_len))) {
                cel_node_free(s);
                cel_node_free(n);
                return NULL;
            }
            if (add_arg(p, s, n) != 0) {
                cel_node_free(s);
                return NULL;
            }
            n = s;
            advance(p);
            if (p->tok.kind == CEL_T_LPAREN) {
                advance(p);
                n->op = CEL_N_CALL;
                n->member = 1;
                if (parse_args(p, n, CEL_T_RPAREN, 0) != 0)
                    break;
            } else if (p->tok.kind == CEL_T_LBRACE) {
                fail_at(p, p->tok.offset,
                        "message construction is not supported (gwf has no "
                        "protobuf types)");
                break;
            }
        } else if (p->tok.kind == CEL_T_LBRACKET) {
            advance(p);
            cel_node *ix = node(p, CEL_N_INDEX, at);
            if (!ix) {
                cel_node_free(n);
                return NULL;
            }
            if (add_arg(p, ix, n) != 0) {
                cel_node_free(ix);
                return NULL;
            }
            n = ix;
            if (add_arg(p, n, parse_expr(p)) != 0 ||
                expect(p, CEL_T_RBRACKET, "']'") != 0)
                break;
        } else {
            break;
        }
    }
    if (p->failed) {
        cel_node_free(n);
        return NULL;
    }
    return n;
}

static cel_node *
unary(parser *p)
{
    size_t at = p->tok.offset;

    if (p->tok.kind == CEL_T_NOT || p->tok.kind == CEL_T_MINUS) {
        cel_op op = p->tok.kind == CEL_T_NOT ? CEL_N_NOT : CEL_N_NEG;
        advance(p);
        if (op == CEL_N_NEG && p->tok.kind == CEL_T_INT &&
            p->tok.u == (uint64_t)INT64_MAX + 1) {
            /* -9223372036854775808: the one literal only negation allows */
            cel_node *n = node(p, CEL_N_LIT, at);
            if (!n)
                return NULL;
            n->lit.kind = n->type = CEL_INT;
            n->lit.v.i = INT64_MIN;
            advance(p);
            return n;
        }
        if (enter(p) != 0)
            return NULL;
        cel_node *n = node(p, op, at);
        if (!n || add_arg(p, n, unary(p)) != 0) {
            cel_node_free(n);
            return NULL;
        }
        p->depth--;
        return n;
    }
    return member(p);
}

static int
binop_of(cel_tok t, int level)
{
    if (level == 0)
        return t == CEL_T_STAR      ? CEL_F_MUL
               : t == CEL_T_SLASH   ? CEL_F_DIV
               : t == CEL_T_PERCENT ? CEL_F_MOD
                                    : 0;
    if (level == 1)
        return t == CEL_T_PLUS ? CEL_F_ADD : t == CEL_T_MINUS ? CEL_F_SUB : 0;
    switch (t) {
    case CEL_T_EQ:
        return CEL_F_EQ;
    case CEL_T_NE:
        return CEL_F_NE;
    case CEL_T_LT:
        return CEL_F_LT;
    case CEL_T_LE:
        return CEL_F_LE;
    case CEL_T_GT:
        return CEL_F_GT;
    case CEL_T_GE:
        return CEL_F_GE;
    case CEL_T_IN:
        return CEL_F_IN;
    default:
        return 0;
    }
}

/* Levels 0 (*), 1 (+), 2 (relations): left-associative. */
static cel_node *
binary(parser *p, int level)
{
    cel_node *l = level == 0 ? unary(p) : binary(p, level - 1);
    int fn;

    while (l && (fn = binop_of(p->tok.kind, level)) != 0) {
        size_t at = p->tok.offset;
        advance(p);
        cel_node *n = node(p, CEL_N_BIN, at);
        if (!n) {
            cel_node_free(l);
            return NULL;
        }
        n->fn = (cel_fn)fn;
        add_arg(p, n, l);
        if (add_arg(p, n, level == 0 ? unary(p) : binary(p, level - 1)) != 0) {
            cel_node_free(n);
            return NULL;
        }
        l = n;
    }
    return l;
}

static cel_node *
logic(parser *p, cel_tok tok, cel_op op)
{
    cel_node *l =
        op == CEL_N_OR ? logic(p, CEL_T_AND, CEL_N_AND) : binary(p, 2);
    while (l && p->tok.kind == tok) {
        size_t at = p->tok.offset;
        advance(p);
        cel_node *n = node(p, op, at);
        if (!n) {
            cel_node_free(l);
            return NULL;
        }
        add_arg(p, n, l);
        if (add_arg(p, n,
                    op == CEL_N_OR ? logic(p, CEL_T_AND, CEL_N_AND)
                                   : binary(p, 2)) != 0) {
            cel_node_free(n);
            return NULL;
        }
        l = n;
    }
    return l;
}

static cel_node *
parse_expr(parser *p)
{
    cel_node *c, *n;
    size_t at;

    if (enter(p) != 0)
        return NULL;
    c = logic(p, CEL_T_OR, CEL_N_OR);
    if (c && p->tok.kind == CEL_T_QUESTION) {
        at = p->tok.offset;
        advance(p);
        n = node(p, CEL_N_COND, at);
        if (!n) {
            cel_node_free(c);
            return NULL;
        }
        add_arg(p, n, c);
        if (add_arg(p, n, logic(p, CEL_T_OR, CEL_N_OR)) != 0 ||
            expect(p, CEL_T_COLON, "':'") != 0 ||
            add_arg(p, n, parse_expr(p)) != 0) {
            cel_node_free(n);
            return NULL;
        }
        c = n;
    }
    p->depth--;
    return c;
}

cel_node *
cel_parse(const char *src, size_t len, cel_error *err)
{
    parser p;
    cel_node *root;

    memset(&p, 0, sizeof(p));
    p.lx.src = src;
    p.lx.len = len;
    p.err = err;
    advance(&p);
    root = parse_expr(&p);
    if (root && !p.failed && p.tok.kind != CEL_T_EOF)
        fail_at(&p, p.tok.offset, "unexpected token after the expression");
    free(p.tok.text);
    if (p.failed) {
        cel_node_free(root);
        return NULL;
    }
    return root;
}
