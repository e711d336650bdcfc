#!/usr/bin/python3
"""grpc_echo_server.py - a real gRPC server (grpcio) on an h2c loopback
port for tests/sdk/test_grpc_client.c: prints "PORT <n>", exits when
stdin closes. Methods (bytes in, bytes out, no protobuf):
  /test.Echo/Echo      the request message back
  /test.Echo/Deadline  the deadline the server saw, in ms, as text
  /test.Echo/Fail      status NOT_FOUND (5), message "nope"
"""
import sys
from concurrent import futures

import grpc


def echo(request, context):
    return request


def deadline(request, context):
    return str(int(context.time_remaining() * 1000)).encode()


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "nope")


def main():
    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Deadline": grpc.unary_unary_rpc_method_handler(deadline),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("PORT %d" % port, flush=True)
    sys.stdin.read()
    server.stop(0)


main()
