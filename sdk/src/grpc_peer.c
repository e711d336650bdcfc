/*
 * grpc_peer.c - where a gRPC client calls (gwf/sdk_grpc.h): a name
 * resolved once, at config time, into the addresses every worker's
 * client tries in turn, plus the :authority and the limits its calls
 * share.
 *
 * Resolving at config time keeps getaddrinfo (which blocks) off the
 * workers' loops; a peer is read-only afterwards, so the workers share
 * it without locks.
 */
#include "grpc_internal.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
say(char *err, size_t err_len, const char *fmt, const char *a, unsigned n)
{
    if (err && err_len)
        snprintf(err, err_len, fmt, a, n);
}

gwf_status
gwf_grpc_peer_new(const char *host, unsigned port,
                  const gwf_grpc_peer_options *opts, gwf_grpc_peer **out,
                  char *err, size_t err_len)
{
    struct addrinfo hints = {0}, *list = NULL, *ai;
    gwf_grpc_peer *peer;
    char service[8];
    int rc;

    *out = NULL;
    if (!host || !*host || port == 0 || port > 65535) {
        say(err, err_len, "bad gRPC peer %s:%u", host ? host : "(null)", port);
        return GWF_ERR_BAD_ARGUMENT;
    }
    snprintf(service, sizeof(service), "%u", port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, service, &hints, &list);
    if (rc != 0 || !list) {
        say(err, err_len, "cannot resolve the gRPC peer %s (port %u)", host,
            port);
        return GWF_ERR_BAD_ARGUMENT;
    }
    peer = calloc(1, sizeof(*peer));
    if (!peer) {
        freeaddrinfo(list);
        return GWF_ERR_NO_MEMORY;
    }
    for (ai = list; ai && peer->count < GWF_GRPC_MAX_ADDRESSES;
         ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(peer->addrs[0].sa))
            continue;
        memcpy(&peer->addrs[peer->count].sa, ai->ai_addr, ai->ai_addrlen);
        peer->addrs[peer->count].len = ai->ai_addrlen;
        peer->addrs[peer->count].family = ai->ai_family;
        peer->count++;
    }
    freeaddrinfo(list);
    if (opts && opts->authority)
        peer->authority = strdup(opts->authority);
    else {
        int v6 = strchr(host, ':') != NULL;
        size_t n = strlen(host) + 16;
        if ((peer->authority = malloc(n)))
            snprintf(peer->authority, n, "%s%s%s:%u", v6 ? "[" : "", host,
                     v6 ? "]" : "", port);
    }
    if (!peer->authority || peer->count == 0) {
        int none = peer->count == 0;
        gwf_grpc_peer_free(peer);
        if (none) {
            say(err, err_len, "no usable address for the gRPC peer %s:%u", host,
                port);
            return GWF_ERR_BAD_ARGUMENT;
        }
        return GWF_ERR_NO_MEMORY;
    }
    peer->connect_timeout_ns = opts && opts->connect_timeout_ns
                                   ? opts->connect_timeout_ns
                                   : GWF_GRPC_DEFAULT_CONNECT_TIMEOUT_NS;
    peer->max_message = opts && opts->max_message
                            ? opts->max_message
                            : GWF_GRPC_DEFAULT_MAX_MESSAGE;
    *out = peer;
    return GWF_OK;
}

void
gwf_grpc_peer_free(gwf_grpc_peer *peer)
{
    if (!peer)
        return;
    free(peer->authority);
    free(peer);
}
